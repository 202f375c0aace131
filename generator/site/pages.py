"""Which pages the site has, each as (source path, template, context): pure functions of the atlas data.

Pages are produced lazily (a generator), so an atlas of 17,000 units never holds all its
page contexts at once. Contexts hold records and numbers only; links are made when the
template is rendered, relative to the page's own URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.media.kinds import FLOW_CODES, PANEL_KINDS, PANEL_LABELS
from generator.site.data import AtlasData, Row
from generator.site.escape import bibtex_key, bibtex_text, safe_title
from generator.site.evidence_view import evidence_view
from generator.site.paths import (
    chi_segment,
    class_page,
    failure_page,
    layer_page,
    page_url,
    unit_folder,
    unit_page,
)
from generator.site.plots import histogram, line_chart
from generator.site.stats import (
    appearance_change_by_stream,
    class_range_sentence,
    drivers,
    first_to_last_sentence,
    joint_feature_sentence,
    layer_summary,
    mean,
    pair_explanation,
    probe_explanation,
    shown,
    similar_units,
    spearman,
    speed_claim_sentence,
    stream_lines,
    trend_sentence,
)
from generator.site.tuning_findings import class_tuning
from generator.site.tuning_view import tuning_view

VIDEO_KINDS = tuple((kind, PANEL_LABELS[kind]) for kind in PANEL_KINDS)


@dataclass(frozen=True)
class Page:
    src: str  # Markdown source path inside the docs folder
    template: str
    title: str  # plain text shown in the browser tab, nav and search (already safe)
    context: dict[str, Any]
    hide: tuple[str, ...] = ()  # Material page parts to hide, e.g. ("toc",) for full-width grids
    meta: dict[str, str] = field(default_factory=dict)  # extra front matter, e.g. OpenGraph fields


def front_matter(page: Page, extra: Mapping[str, Any] | None = None) -> str:
    """The page's YAML front matter (title, hidden parts, meta, then ``extra``), values as JSON."""
    lines = [f"title: {json.dumps(safe_title(page.title))}"]
    if page.hide:
        lines.append(f"hide: {json.dumps(list(page.hide))}")
    lines.extend(f"{key}: {json.dumps(value)}" for key, value in {**page.meta, **(extra or {})}.items())
    return "---\n" + "\n".join(lines) + "\n---\n\n"


@dataclass(frozen=True)
class SiteInfo:
    title: str
    site_url: str | None
    author: str
    directory_urls: bool = True

    def permalink(self, src: str) -> str:
        return self.absolute(page_url(src, self.directory_urls))

    def absolute(self, site_path: str) -> str:
        """URL of a site path: absolute under ``site_url``; without one, relative to the site's root."""
        return f"{self.site_url.rstrip('/')}/{site_path}" if self.site_url else f"/{site_path}"


def chi_labels(chis: list[float]) -> dict[float, str]:
    """'fast' for the smallest chi, 'slow' for the largest, 'medium' between (for three)."""
    labels = {}
    for index, chi in enumerate(chis):
        if len(chis) == 1:
            word = ""
        elif index == 0:
            word = "fast"
        elif index == len(chis) - 1:
            word = "slow"
        else:
            word = "medium" if len(chis) == 3 else ""
        labels[chi] = f"\u03c7 = {chi:g}" + (f" ({word})" if word else "")
    return labels


def _model(data: AtlasData) -> dict[str, Any]:
    model = data.manifest["model"]
    card = model.get("card") or {}
    return {
        "name": model["name"],
        "hash": model["hash"],
        "card": card,
        "accuracy": card.get("test_accuracy"),
        "parameters": card.get("parameters"),
    }


_KIND_STREAM = {"appearance": "appearance", **dict.fromkeys(FLOW_CODES, "motion")}


def absent_kinds(layer: Row) -> tuple[str, ...]:
    """Video kinds of an input stream the layer does not see: their panels only show what the
    optimiser left untouched (a grey frame, or noise scaled up), so the page says so instead."""
    streams = set(layer.get("streams") or ())
    if not streams:
        return ()
    return tuple(kind for kind, stream in _KIND_STREAM.items() if stream not in streams)


def receptive_field_box(layer: Row, objective: str) -> dict[str, float] | None:
    """The receptive field of the neuron a visualization drives, as a centred square in
    percent of the frame: for convolutional layers of one stream, whose objective is the
    centre neuron (engine.objectives.objective_mode); None where the unit sees the whole frame."""
    rf, size = layer.get("receptive_field"), layer.get("input_size")
    one_stream = len(layer.get("streams") or ()) == 1
    if (
        objective == "mean"
        or not one_stream
        or layer.get("kind") not in ("conv2d", "conv3d")
        or not rf
        or not size
    ):
        return None
    if rf >= size:
        return None
    width = 100.0 * rf / size
    return {"width": round(width, 2), "offset": round((100.0 - width) / 2, 2), "rf": rf, "size": size}


def _kinds(rows: list[Row]) -> list[tuple[str, str]]:
    return [(k, label) for k, label in VIDEO_KINDS if any(r.get(k) for r in rows)]


def view_grid(joint: list[Row], views: Mapping[str, list[Row]]) -> list[dict[str, Any]]:
    """One row per (chi, seed) of the joint view: the joint result beside each per-stream view's
    result at the same chi and seed (None where a view has none). Empty without per-stream views."""
    if not views:
        return []
    names = sorted(views)
    index = {name: {(r["chi"], r["seed"]): r for r in rows} for name, rows in views.items()}
    return [
        {
            "chi": r["chi"],
            "seed": r["seed"],
            "cells": [("joint", r)] + [(name, index[name].get((r["chi"], r["seed"]))) for name in names],
        }
        for r in joint
    ]


def _preferred(unit: Row, classes: list[Row], count: int = 5) -> list[dict[str, Any]]:
    means = unit.get("class_means") or []
    if not means or unit["dead"]:
        return []
    order = sorted(range(min(len(means), len(classes))), key=lambda i: -means[i])[:count]
    top = max(means) or 1.0
    return [{"class": classes[i]["class_name"], "mean": means[i], "share": means[i] / top} for i in order]


def _cite(unit: Row, data: AtlasData, info: SiteInfo, src: str) -> str:
    model = data.manifest["model"]
    year = str(data.manifest.get("created", ""))[:4] or "n.d."
    chis = ", ".join(f"{c:g}" for c in data.chis)
    return (
        f"@misc{{{bibtex_key(unit['unit_id'])},\n"
        f"  title        = {{Unit {bibtex_text(unit['unit_id'])} of {bibtex_text(model['name'])} "
        f"in the {bibtex_text(info.title)}}},\n"
        f"  author       = {{{bibtex_text(info.author)}}},\n"
        f"  year         = {{{year}}},\n"
        f"  howpublished = {{\\url{{{bibtex_text(info.permalink(src))}}}}},\n"
        f"  note         = {{Model hash {bibtex_text(model['hash'])}; visualized at chi = {chis}}}\n"
        f"}}"
    )


def _open_graph(unit: Row, info: SiteInfo, src: str) -> dict[str, str]:
    """OpenGraph fields of a unit page (link previews): its title, one line and its poster."""
    meta = {"og_title": safe_title(f"Unit {unit['unit_id']}"), "og_url": info.permalink(src)}
    if unit.get("dead"):
        meta["og_description"] = "A unit that never responds on held-out clips."
    elif unit.get("selectivity") is not None:
        meta["og_description"] = safe_title(
            f"{unit['stream']} stream, class selectivity {unit['selectivity']:.2f}"
            + (f", preferred class {unit['preferred_class']}" if unit.get("preferred_class") else "")
        )
    if unit.get("poster"):
        meta["og_image"] = info.absolute(unit["poster"])
    return meta


def unit_pages(data: AtlasData, info: SiteInfo, shard: int = 0, shards: int = 1) -> Iterator[Page]:
    """One page per unit, at ``units/<unit id>/``; with ``shards`` > 1 only every ``shards``-th
    unit from the ``shard``-th on, in layer order (one process's share of the pages)."""
    labels = chi_labels(data.chis)
    classes = data.classes
    objective = str((data.manifest.get("config") or {}).get("visualize", {}).get("objective", "centre"))
    position = -1
    for layer in data.layers:
        members = data.by_layer[layer["name"]]
        similar = similar_units(members)
        for index, unit in enumerate(members):
            position += 1
            if position % shards != shard:
                continue
            src = unit_page(unit["unit_id"])
            rows = data.visualizations.get(unit["unit_id"], [])
            yield Page(
                src=src,
                template="unit.md.j2",
                title=safe_title(unit["unit_id"]),
                context={
                    "unit": unit,
                    "layer": layer,
                    "rows": rows,
                    "labels": labels,
                    "kinds": _kinds(rows),
                    "stream_views": view_grid(rows, data.views.get(unit["unit_id"], {})),
                    "absent": absent_kinds(layer),
                    "rf_box": receptive_field_box(layer, objective),
                    "clips": data.top_clips.get(unit["unit_id"], []),
                    "preferred": _preferred(unit, classes),
                    "previous": members[index - 1] if index > 0 else None,
                    "next": members[index + 1] if index + 1 < len(members) else None,
                    "similar": [data.unit_by_id[i] for i in similar.get(unit["unit_id"], [])],
                    "class_row": data.class_by_name.get(unit["class_name"]) if unit["class_name"] else None,
                    "permalink": info.permalink(src),
                    "cite": _cite(unit, data, info, src),
                    "chi_links": [(chi, info.permalink(src) + "#" + chi_segment(chi)) for chi in data.chis],
                    "embed_url": info.absolute(f"{unit_folder(unit['unit_id'])}/embed.html"),
                    "json_file": f"{unit_folder(unit['unit_id'])}/unit.json",
                    "embed_file": f"{unit_folder(unit['unit_id'])}/embed.html",
                    "settings_hash": data.manifest.get("config_hash"),
                    "tuning": tuning_view(unit, data.tuning.get(unit["unit_id"], [])),
                    "evidence": evidence_view(
                        unit,
                        data.histograms.get(unit["unit_id"], []),
                        data.clip_samples.get(unit["unit_id"], []),
                    ),
                },
                meta=_open_graph(unit, info, src),
            )


def layer_pages(data: AtlasData) -> Iterator[Page]:
    """One page per layer (a grid of every unit), plus the layers index."""
    summaries = [
        layer_summary(layer, data.by_layer[layer["name"]], data.visualizations) for layer in data.layers
    ]
    thumbs = {}
    for layer in data.layers:
        shown = sorted(
            (u for u in data.by_layer[layer["name"]] if u["poster"] and not u["dead"]),
            key=lambda u: -(u["selectivity"] or 0.0),
        )
        thumbs[layer["name"]] = shown[0] if shown else None
    yield Page("layers/index.md", "layers.md.j2", "Layers", {"layers": summaries, "thumbs": thumbs})
    for summary in summaries:
        yield Page(
            src=layer_page(summary["name"]),
            template="layer.md.j2",
            title=safe_title(f"Layer {summary['name']}"),
            context={"layer": summary, "units": data.by_layer[summary["name"]]},
            hide=("toc",),
        )


def _rates(data: AtlasData) -> dict[tuple[str, str], float]:
    return {(r["true_class"], r["predicted_class"]): r["rate"] for r in data.confusions}


def class_pages(data: AtlasData) -> Iterator[Page]:
    """One page per class, plus the classes index."""
    labels = chi_labels(data.chis)
    cases = data.manifest["failure_cases"]
    yield Page(
        "classes/index.md",
        "classes.md.j2",
        "Classes",
        {
            "classes": data.classes,
            "units": {c["unit_id"]: data.unit_by_id.get(c["unit_id"]) for c in data.classes},
        },
    )
    live = [u for u in data.units if shown(u) and u["layer"] != "class" and u["selectivity"] is not None]
    for row in data.classes:
        name = row["class_name"]
        selective = sorted((u for u in live if u["preferred_class"] == name), key=lambda u: -u["selectivity"])
        confused = sorted(
            (r for r in data.confusions if r["true_class"] == name and r["predicted_class"] != name),
            key=lambda r: -r["rate"],
        )
        taken_for = sorted(
            (r for r in data.confusions if r["predicted_class"] == name and r["true_class"] != name),
            key=lambda r: -r["count"],
        )
        yield Page(
            src=class_page(name),
            template="class.md.j2",
            title=safe_title(f"Class {name}"),
            context={
                "row": row,
                "unit": data.unit_by_id.get(row["unit_id"]),
                "rows": data.visualizations.get(row["unit_id"], []),
                "stream_views": view_grid(
                    data.visualizations.get(row["unit_id"], []), data.views.get(row["unit_id"], {})
                ),
                "labels": labels,
                "selective": selective[:12],
                "confused": confused[:8],
                "taken_for": taken_for[:8],
                "cases": [c for c in cases if name in c["classes"]],
                "known_classes": data.class_by_name,
            },
        )


def failure_pages(data: AtlasData, notes: Mapping[str, str]) -> Iterator[Page]:
    """One write-up per failure case (most-confused pair or bias probe), plus their index."""
    cases = data.manifest["failure_cases"]
    rates = _rates(data)
    index = {c["class_name"]: c["class_index"] for c in data.classes}
    labels = chi_labels(data.chis)
    summaries = []
    for case in cases:
        a, b = (list(case["classes"]) + [None, None])[:2]
        found = drivers(data.units, index, a, b) if a and b else {"shared": [], "by_class": []}
        sentence = (
            pair_explanation(case, data.class_by_name, rates, found["shared"])
            if case["kind"] == "pair"
            else probe_explanation(case)
        )
        verdict = (case.get("evidence") or {}).get("cue_sentence")
        if verdict:
            sentence += " " + verdict  # the single-stream probes' verdict, with its numbers
        summaries.append((case, found, sentence))
    yield Page(
        "failures/index.md", "failures.md.j2", "Failure cases", {"cases": [(c, s) for c, _, s in summaries]}
    )
    for case, found, sentence in summaries:
        visuals = []
        for name in case["classes"][:2]:
            row = data.class_by_name.get(name)
            unit_id = row["unit_id"] if row else f"class/{name}"
            ok_rows = [r for r in data.visualizations.get(unit_id, []) if r["status"] == "ok"]
            visuals.append({"class": name, "row": row, "rows": ok_rows, "unit": data.unit_by_id.get(unit_id)})
        yield Page(
            src=failure_page(case["slug"]),
            template="failure.md.j2",
            title=safe_title(case["title"]),
            context={
                "case": case,
                "drivers": found,
                "sentence": sentence,
                "visuals": visuals,
                "labels": labels,
                "rates": rates,
                "notes": notes.get(case["slug"]),
                "known_classes": data.class_by_name,
            },
        )


def depth_labels(layers: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """One axis label per depth: layers of several streams at one depth share it, e.g.
    "conv1_1 (2 streams)", instead of printing their names over each other."""
    names: dict[int, list[str]] = {}
    for depth, name in layers:
        names.setdefault(depth, []).append(name)
    labels = []
    for depth, group in names.items():
        ends = {name.rsplit("/", 1)[-1] for name in group}
        if len(group) == 1:
            label = group[0]
        elif len(ends) == 1 and all("/" in name for name in group):
            label = f"{ends.pop()} ({len(group)} streams)"  # the table below names them
        else:
            label = " / ".join(group)
        labels.append((depth, label))
    return labels


def seed_count(data: AtlasData) -> int:
    """How many seeds each (unit, chi) was visualized from (the build's visualize.seeds)."""
    return max(1, len(data.manifest.get("config", {}).get("visualize", {}).get("seeds", [0])))


def findings_page(data: AtlasData) -> Page:
    """The paper's claims checked on this model, with tables and inline SVG plots."""
    summaries = [
        layer_summary(layer, data.by_layer[layer["name"]], data.visualizations) for layer in data.layers
    ]
    measured = summaries  # the class outputs are the last layer of the claim "grows with depth"
    depths = [s["depth"] for s in measured]
    x_labels = depth_labels([(s["depth"], s["name"]) for s in measured])
    # One chart per measure, one line per stream: layers of several streams share a depth, and
    # one line through all of them would zigzag between the streams.
    by_depth = [
        line_chart(
            stream_lines(measured, key),
            x_labels,
            x_label="layer (by depth)",
            y_label=f"layer mean {what}",
            title=f"Mean {what} by depth, one line per stream",
            y_range=(0.0, 1.0),
        )
        for what, key in (
            ("selectivity", "selectivity"),
            ("speed invariance", "invariance_speed"),
            ("invariance across \u03c7", "invariance_chi"),
        )
    ]
    chi_rows = []
    for chi in data.chis:
        rows = [
            r for rs in data.visualizations.values() for r in rs if r["chi"] == chi and r["status"] == "ok"
        ]
        chi_rows.append(
            {
                "chi": chi,
                "count": len(rows),
                "temporal_variation": mean(r["temporal_variation"] for r in rows),
                "normalised_activation": mean(r["normalised_activation"] for r in rows),
            }
        )
    tv_rho = spearman([r["chi"] for r in chi_rows], [r["temporal_variation"] for r in chi_rows])
    live = [u for u in data.units if shown(u) and u["selectivity"] is not None and u["layer"] != "class"]
    first_layers = {}
    for layer in data.layers:
        if layer["stream"] in ("appearance", "motion") and layer["stream"] not in first_layers:
            first_layers[layer["stream"]] = {"layer": layer, "units": data.by_layer[layer["name"]][:8]}
    fusion = [layer for layer in data.layers if layer["stream"] == "fusion"]
    fusion_units = [u for u in data.by_layer[fusion[0]["name"]] if shown(u)][:4] if fusion else []
    joint = appearance_change_by_stream(data.units)
    return Page(
        "findings.md",
        "findings.md.j2",
        "Findings",
        {
            "layers": summaries,
            "by_depth": by_depth,
            "histogram": histogram(
                [u["selectivity"] for u in live],
                x_label="class selectivity index",
                title="Selectivity of every unit",
            ),
            "si_sentence": trend_sentence(
                "mean selectivity", "depth", spearman(depths, [s["selectivity"] for s in measured])
            ),
            "inv_sentence": trend_sentence(
                "mean invariance across \u03c7",
                "depth",
                spearman(depths, [s["invariance_chi"] for s in measured]),
            ),
            "speed_claim": speed_claim_sentence(data.layers, data.by_layer),
            "range_claim": class_range_sentence(live),
            "first_last": [
                first_to_last_sentence(what, key, data.layers, data.by_layer)
                for what, key in (
                    ("mean selectivity", "selectivity"),
                    ("mean invariance across \u03c7", "invariance_chi"),
                    ("mean speed invariance", "invariance_speed"),
                )
            ],
            "chi_rows": chi_rows,
            "tv_sentence": trend_sentence("the temporal variation of the visualized flow", "\u03c7", tv_rho),
            "most_selective": sorted(live, key=lambda u: -u["selectivity"])[:6],
            "least_selective": sorted(live, key=lambda u: u["selectivity"])[:6],
            "first_layers": list(first_layers.values()),
            "joint_sentence": joint_feature_sentence(joint, seed_count(data)),
            "joint_rows": joint,
            "fusion_units": [
                (u, [r for r in data.visualizations.get(u["unit_id"], []) if r["status"] == "ok"])
                for u in fusion_units
            ],
            "labels": chi_labels(data.chis),
            "cases": data.manifest["failure_cases"],
            "class_tuning": class_tuning(data),
        },
    )


def home_page(data: AtlasData, intro: str | None) -> Page:
    """The home page: what the atlas is, the model card, how to read it."""
    summaries = [
        layer_summary(layer, data.by_layer[layer["name"]], data.visualizations) for layer in data.layers
    ]
    return Page(
        "index.md",
        "home.md.j2",
        "Home",
        {
            "intro": intro,
            "layers": summaries,
            "counts": data.manifest.get("counts", {}),
            "data_source": data.manifest.get("data") or {"source": "synthetic"},
            "cases": data.manifest["failure_cases"],
            "labels": chi_labels(data.chis),
            "created": data.manifest.get("created"),
            "versions": data.manifest.get("versions", {}),
            "config_hash": data.manifest.get("config_hash"),
            "classes": len(data.classes),
            "units": len(data.units),
        },
    )


def common_context(data: AtlasData, info: SiteInfo) -> dict[str, Any]:
    """Context shared by every page."""
    return {"site": info, "model": _model(data), "chis": data.chis}
