"""A unit's files beside its page: the JSON twin and the embed view.

Both live in the unit's permalink folder (``units/<unit id>/unit.json`` and ``embed.html``),
next to its media (``chi-10/colorwheel.mp4``), so none of their URLs changes when settings
do. The JSON holds every number the unit page prints and the URL of every medium; the embed
view is one self-contained HTML file (inline style, no script, relative media), so it plays
from a folder on a laptop with no network, sized for a 16:9 slide.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from generator.site.data import MEDIA_COLUMNS, AtlasData, Row
from generator.site.pages import VIDEO_KINDS, SiteInfo, _preferred, chi_labels
from generator.site.parallel import shard_of
from generator.site.paths import chi_segment, inside, page_url, unit_folder, unit_page
from generator.site.tuning_view import tuning_words

JSON_NAME = "unit.json"
EMBED_NAME = "embed.html"
SCHEMA = 1


def _urls(row: Row, columns: Iterable[str], info: SiteInfo) -> dict[str, Any]:
    """The row with its media columns as URLs (absolute under site_url)."""
    return {k: (info.absolute(v) if k in columns and v else v) for k, v in row.items()}


def unit_record(unit: Row, data: AtlasData, info: SiteInfo) -> dict[str, Any]:
    """Everything the unit page shows, as data: its numbers, its visualizations with their
    media URLs, its top clips, preferred classes and the hashes that identify the build."""
    unit_id = unit["unit_id"]
    src = unit_page(unit_id)
    folder = unit_folder(unit_id)
    return {
        "schema": SCHEMA,
        "unit_id": unit_id,
        "permalink": info.permalink(src),
        "json": info.absolute(f"{folder}/{JSON_NAME}"),
        "embed": info.absolute(f"{folder}/{EMBED_NAME}"),
        "model": {"name": data.manifest["model"]["name"], "hash": data.manifest["model"]["hash"]},
        "settings_hash": data.manifest.get("config_hash"),
        "unit": _urls(unit, MEDIA_COLUMNS["units"], info),
        "preferred_classes": _preferred(unit, data.classes),
        "visualizations": [
            _urls(r, MEDIA_COLUMNS["visualizations"], info)
            | {"anchor": info.permalink(src) + "#" + chi_segment(r["chi"])}
            for r in data.visualizations.get(unit_id, [])
        ],
        # Per-stream views (fusion and class units): each input alone, the others held at their data mean.
        "stream_views": {
            view: [_urls(r, MEDIA_COLUMNS["visualizations"], info) for r in rows]
            for view, rows in data.views.get(unit_id, {}).items()
        },
        "top_clips": [_urls(r, MEDIA_COLUMNS["top_clips"], info) for r in data.top_clips.get(unit_id, [])],
        "tuning": [
            {k: r[k] for k in ("direction", "speed", "response")} for r in data.tuning.get(unit_id, [])
        ],
        "activation_histogram": [
            {k: r[k] for k in ("low", "high", "clips")} for r in data.histograms.get(unit_id, [])
        ],
        "clip_samples": [
            _urls(r, MEDIA_COLUMNS["clip_samples"], info) for r in data.clip_samples.get(unit_id, [])
        ],
    }


def _relative(folder: str, site_path: str | None) -> str | None:
    """A media site path relative to the unit's folder (media live under it)."""
    if not site_path:
        return None
    prefix = folder + "/"
    return site_path[len(prefix) :] if site_path.startswith(prefix) else None


def embed_context(unit: Row, data: AtlasData, info: SiteInfo) -> dict[str, Any]:
    """What the embed view shows: the videos at every chi (paths relative to the view), the
    unit id, key numbers and a link back to the unit page."""
    unit_id = unit["unit_id"]
    folder = unit_folder(unit_id)
    rows = data.visualizations.get(unit_id, [])
    labels = chi_labels(data.chis)
    kinds = [(k, label) for k, label in VIDEO_KINDS if any(r.get(k) for r in rows)]
    own = page_url(unit_page(unit_id), info.directory_urls)
    back = info.permalink(unit_page(unit_id)) if info.site_url else _back_link(folder, own)
    return {
        "unit": unit,
        "kinds": kinds,
        "rows": [
            {
                "label": labels.get(r["chi"], f"{r['chi']:g}"),
                "status": r["status"],
                "videos": [
                    (_relative(folder, r.get(k)), _relative(folder, r.get(f"{k}_poster"))) for k, _ in kinds
                ],
            }
            for r in rows
        ],
        "back": back,
        "tuning_words": tuning_words(unit),
        "model": data.manifest["model"]["name"],
    }


def _back_link(folder: str, own_url: str) -> str:
    """Relative link from ``<folder>/embed.html`` to the unit page's URL."""
    depth = folder.count("/") + 1
    return "../" * depth + own_url


def _environment(templates_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _num(value: Any, digits: int = 2) -> str:
    return "\u2013" if value is None else f"{value:.{digits}f}"


def write_unit_files(
    data: AtlasData, info: SiteInfo, site_dir: Path, templates_dir: Path, shard: int = 0, shards: int = 1
) -> int:
    """Write every unit's JSON twin and embed view into the built site (with ``shards`` > 1
    only this shard's units); return how many units."""
    env = _environment(templates_dir)
    env.filters["num"] = _num
    template = env.get_template("embed.html.j2")
    count = 0
    # The site is built in a scratch folder and swapped into place whole, so plain writes suffice.
    for unit in shard_of(data.units, shard, shards):
        count += 1
        folder = inside(site_dir, unit_folder(unit["unit_id"]))
        folder.mkdir(parents=True, exist_ok=True)
        record = unit_record(unit, data, info)
        (folder / JSON_NAME).write_text(
            json.dumps(record, ensure_ascii=False, allow_nan=False, indent=1), encoding="utf-8"
        )
        (folder / EMBED_NAME).write_text(template.render(embed_context(unit, data, info)), encoding="utf-8")
    return count
