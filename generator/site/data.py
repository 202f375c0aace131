"""The atlas as the site sees it: its tables and manifest read into plain records.

The site reads nothing else from an atlas folder (no model, no engine): this module turns
the five tables and the manifest into dictionaries grouped the way pages need them, and
checks every media path they name (relative, inside the folder, present).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from generator.errors import AtlasError
from generator.media.kinds import MEDIA_KINDS, PANEL_KINDS
from generator.site.paths import media_file, unit_folder, visualization_file
from generator.store.manifest import manifest_path, read_manifest
from generator.store.parquet import read_metadata, read_table
from generator.store.schema import table_path
from generator.store.table_set import check_table_set

Row = dict[str, Any]
MEDIA_COLUMNS = {
    "units": ("poster", "composite"),
    "visualizations": ("array", *MEDIA_KINDS, "poster", *(f"{kind}_poster" for kind in PANEL_KINDS)),
    "top_clips": ("composite", "poster", "overlay", "overlay_poster"),
    "clip_samples": ("composite", "poster", "overlay", "overlay_poster"),
}
OPTIONAL_TABLES = ("tuning", "activation_histograms", "clip_samples")  # atlases written before them lack them


@dataclass(frozen=True)
class AtlasData:
    """Everything the pages show, grouped for them."""

    root: Path
    manifest: dict[str, Any]
    metadata: dict[str, Any]  # file metadata of the units table (model hash, config hash, versions)
    units: list[Row]  # ordered by layer depth, then channel
    layers: list[Row]  # manifest layer records that have units, in depth order
    by_layer: dict[str, list[Row]]
    unit_by_id: dict[str, Row]
    visualizations: dict[str, list[Row]]  # unit id -> its joint view's rows ordered by chi, seed
    top_clips: dict[str, list[Row]]  # unit id -> rows ordered by rank
    clip_samples: dict[str, list[Row]]  # unit id -> clips sampled across its activation range, by response
    histograms: dict[str, list[Row]]  # unit id -> its activation histogram's bins
    tuning: dict[str, list[Row]]  # unit id -> drifting-flow responses ordered by speed, direction
    classes: list[Row]  # ordered by class_index
    class_by_name: dict[str, Row]
    confusions: list[Row]
    chis: list[float]
    media: dict[str, str] = field(default_factory=dict)  # site path -> atlas-relative path of every file used
    image_sizes: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # site path of a PNG -> (width, height)
    # unit id -> per-stream view ("<input>_only") -> rows ordered by chi, seed (pipeline.views)
    views: dict[str, dict[str, list[Row]]] = field(default_factory=dict)


def _rows(table: pa.Table) -> list[Row]:
    """The table's rows as records, NaN read as None so that templates test one thing for 'no
    value' (done by Arrow, column by column: the tuning table has 1.4 million rows at paper scale)."""
    columns = [
        pc.if_else(pc.is_nan(column), pa.scalar(None, field.type), column)
        if pa.types.is_floating(field.type)
        else column
        for field, column in zip(table.schema, table.columns)
    ]
    return pa.table(columns, names=table.column_names).to_pylist()


# Other media columns keep their column name as file stem.
_STEMS = {"array": "inputs", **{f"{kind}_poster": kind for kind in PANEL_KINDS}}


def _suffix(path: str) -> str:
    """``PurePosixPath(path).suffix`` without making a path object (half a million calls at paper scale)."""
    name = path.rsplit("/", 1)[-1]
    if name in ("", ".", ".."):
        return PurePosixPath(path).suffix
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _stable_name(column: str, atlas_path: str) -> str:
    return _STEMS.get(column, column) + _suffix(atlas_path)


def _stable_site_path(table: str, column: str, row: Row, atlas_path: str, first_seed: dict[str, int]) -> str:
    """Where a file named in ``table.column`` of ``row`` is served: a unit's own files under its
    permalink folder by chi and kind (stable when settings change), anything else (real clips)
    under ``files/`` with its atlas path, which names no settings."""
    if table == "visualizations":
        unit = row["unit_id"]
        return visualization_file(
            unit,
            row["chi"],
            row["seed"],
            row["seed"] == first_seed.get(unit),
            _stable_name(column, atlas_path),
            row.get("view") or "joint",
        )
    if table == "units":
        return f"{unit_folder(row['unit_id'])}/{_stable_name(column, atlas_path)}"
    return media_file(atlas_path)


def _resolve_media(
    root: Path, rows_by_table: dict[str, list[Row]], extra: list[Row], strict: bool
) -> dict[str, str]:
    """Replace media paths in the rows by site paths (None when missing and not strict); return the file map."""
    media: dict[str, str] = {}
    present: dict[str, bool] = {}
    missing: list[str] = []
    first_seed: dict[str, int] = {}
    for row in rows_by_table.get("visualizations", []):
        first_seed[row["unit_id"]] = min(row["seed"], first_seed.get(row["unit_id"], row["seed"]))

    def resolve(path: str | None, site: str) -> str | None:
        if not path:
            return None
        if path not in present:
            media_file(path)  # checks that the atlas path stays inside the atlas
            present[path] = os.path.isfile(os.path.join(root, path))
            if not present[path]:
                missing.append(path)
        if not present[path]:
            return None
        media[site] = path
        return site

    for table, rows in rows_by_table.items():
        columns = MEDIA_COLUMNS[table]
        for row in rows:
            for column in columns:
                path = row.get(column)
                row[column] = resolve(
                    path, _stable_site_path(table, column, row, path, first_seed) if path else ""
                )
    for row in extra:
        for column in ("composite", "poster"):
            path = row.get(column)
            row[column] = resolve(path, media_file(path) if path else "")
    if missing and strict:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise AtlasError(
            f"{len(missing)} media file(s) named in the tables of {root} are missing: {shown}. Rerun the media "
            f"stage (atlas build), or render with strict=False to leave them out."
        )
    return media


def _grouped(rows: list[Row], order: tuple[str, ...]) -> dict[str, list[Row]]:
    """unit id -> its rows, ordered by the ``order`` columns."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["unit_id"], *(r[k] for k in order))):
        grouped[row["unit_id"]].append(row)
    return dict(grouped)


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None if it is not a PNG (pages use it to reserve space)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def load_atlas(atlas_dir: Path | str, strict: bool = True) -> AtlasData:
    """Read an atlas folder's tables and manifest; media paths become site paths (``files/...``)."""
    root = Path(atlas_dir)
    manifest = read_manifest(manifest_path(root))
    check_table_set(root)  # a half-rewritten set (killed build) is refused, never shown
    tables = {
        name: _rows(read_table(table_path(root, name), name))
        for name in ("units", "visualizations", "classes", "confusions", "top_clips")
    }
    for name in OPTIONAL_TABLES:
        path = table_path(root, name)
        tables[name] = _rows(read_table(path, name)) if path.is_file() else []
    clips_in_cases = [clip for case in manifest["failure_cases"] for clip in case.get("clips", [])]
    clips_in_cases = [dict(clip) for clip in clips_in_cases]
    media = _resolve_media(root, {k: tables[k] for k in MEDIA_COLUMNS}, clips_in_cases, strict)
    cases, position = [], 0
    for case in manifest["failure_cases"]:
        count = len(case.get("clips", []))
        cases.append({**case, "clips": clips_in_cases[position : position + count]})
        position += count
    manifest = {**manifest, "failure_cases": cases}

    units = sorted(tables["units"], key=lambda u: (u["layer_depth"], u["layer"], u["channel"]))
    by_layer: dict[str, list[Row]] = defaultdict(list)
    for unit in units:
        by_layer[unit["layer"]].append(unit)
    layer_records = {layer["name"]: layer for layer in manifest["layers"]}
    layers = []
    for name, members in by_layer.items():
        record = layer_records.get(name) or {
            "name": name,
            "kind": "unknown",
            "units": len(members),
            "depth": members[0]["layer_depth"],
            "stride": None,
            "receptive_field": None,
            "streams": [members[0]["stream"]],
        }
        layers.append({**record, "stream": members[0]["stream"]})

    visualizations: dict[str, list[Row]] = defaultdict(list)
    views: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in sorted(tables["visualizations"], key=lambda r: (r["unit_id"], r["chi"], r["seed"])):
        view = row.get("view") or "joint"
        if view == "joint":
            visualizations[row["unit_id"]].append(row)
        else:
            views[row["unit_id"]][view].append(row)
    top_clips: dict[str, list[Row]] = defaultdict(list)
    for row in sorted(tables["top_clips"], key=lambda r: (r["unit_id"], r["rank"])):
        top_clips[row["unit_id"]].append(row)
    tuning = _grouped(tables["tuning"], ("speed", "direction"))
    clip_samples = _grouped(tables["clip_samples"], ("activation",))
    histograms = _grouped(tables["activation_histograms"], ("bin",))
    classes = sorted(tables["classes"], key=lambda r: r["class_index"])
    chis = sorted({float(c) for c in manifest["chis"]} | {r["chi"] for r in tables["visualizations"]})
    pngs = {path: png_size(root / path) for path in set(media.values()) if path.endswith(".png")}
    sizes = {site: pngs[path] for site, path in media.items() if path.endswith(".png")}
    return AtlasData(
        root=root,
        manifest=manifest,
        metadata=read_metadata(table_path(root, "units")),
        units=units,
        layers=layers,
        by_layer=dict(by_layer),
        unit_by_id={u["unit_id"]: u for u in units},
        visualizations=dict(visualizations),
        views={unit: dict(by_view) for unit, by_view in views.items()},
        top_clips=dict(top_clips),
        tuning=tuning,
        clip_samples=clip_samples,
        histograms=histograms,
        classes=classes,
        class_by_name={c["class_name"]: c for c in classes},
        confusions=tables["confusions"],
        chis=chis,
        media=media,
        image_sizes={site: size for site, size in sizes.items() if size},
    )
