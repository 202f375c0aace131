"""Rows of the atlas tables (schemas in generator.store.schema) from stored results and statistics.

Pure functions of what earlier stages stored: results' metadata and loss curves, the data
statistics, speed invariance and the media paths. Without data (a model the synthetic world
cannot feed) the data-driven columns are null, classes carry only names and indices, and
there are no confusions or top clips.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.engine.objectives import objective_mode
from generator.measures.activations import objective_peaks
from generator.measures.classification import confusion_matrix
from generator.measures.coupling import unit_appearance_change
from generator.measures.evidence import histogram_bins, quantile_samples
from generator.measures.invariance import chi_invariance, chi_reaches, converged
from generator.measures.selectivity import class_selectivity, dead_on_data, preferred_class
from generator.measures.status import OK, result_status
from generator.media.kinds import MEDIA_KINDS, PANEL_KINDS
from generator.pipeline.catalog import StoredRef
from generator.pipeline.interventions import InterventionAnswers
from generator.pipeline.statistics import DataStatistics
from generator.pipeline.views import JOINT
from generator.store.schema import STREAMS
from generator.zoo.spec import LayerInfo, ModelDescription

Row = dict[str, Any]


@dataclass(frozen=True)
class StoredVisualization:
    """A stored result's metadata and loss curve (its inputs are not needed for the tables)."""

    ref: StoredRef
    meta: dict[str, Any]
    loss: np.ndarray

    @property
    def ok(self) -> bool:
        return self.meta.get("status", "ok") == "ok"


def read_stored(ref: StoredRef) -> StoredVisualization:
    """Read only the metadata and the loss curve of a result file."""
    with np.load(ref.path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        loss = data["loss"].astype(np.float64)
    return StoredVisualization(ref, meta, loss)


def appearance_changes(
    stored: Sequence[StoredVisualization], rows: Sequence[Row], rgb: str
) -> dict[str, float | None]:
    """Per unit: measures.coupling's change of its optimised ``rgb`` input across chi, mean over seeds.

    Only results that drove their unit (status ok or weak) take part: a failed one shows
    nothing the unit responds to. ``rows`` are the visualizations rows of ``stored``, in order."""
    sweeps: dict[str, dict[int, dict[float, np.ndarray]]] = defaultdict(lambda: defaultdict(dict))
    for item, row in zip(stored, rows, strict=True):
        if row["status"].startswith("failed") or item.ref.view != JOINT:
            continue
        with np.load(item.ref.path, allow_pickle=False) as data:
            key = f"input_{rgb}"
            if key in data.files:
                sweeps[item.ref.unit_id][item.ref.seed][item.ref.chi] = data[key].astype(np.float32)
    return {unit: unit_appearance_change(seeds.values()) for unit, seeds in sweeps.items()}


def unit_stream(info: LayerInfo, description: ModelDescription) -> str:
    """The table's stream of a layer: its name's prefix when that is a stream, else from its kind and inputs."""
    prefix = info.name.split("/", 1)[0]
    if prefix in STREAMS:
        return prefix
    if info.kind == "class":
        return "class"
    if info.kind == "fc":
        return "head"
    if len(info.streams) == 1:
        spec = next((s for s in description.inputs if s.name == info.streams[0]), None)
        return "motion" if spec is not None and spec.kind == "flow" else "appearance"
    return "fusion"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def rho_reduction(info: LayerInfo, objective: str) -> str:
    """How a unit's activation (its objective, and rho) reduces the layer's response (units.rho_reduction)."""
    if info.kind == "class":
        return "score"
    if info.kind == "fc":
        return "value"
    return "channel mean" if objective_mode(info, objective) == "mean" else "centre neuron"


def unit_measures(
    stats: DataStatistics | None, layer: str, mode: str = "centre", kind: str = "conv2d"
) -> dict[str, np.ndarray] | None:
    """Per-unit data measures of a layer: selectivity, preferred class, dead flag, peak and mean.

    ``peak`` is rho for the objective ``mode`` ("centre" or "mean") the engine used there: the
    data maximum of the rectified response it maximises. A unit is dead when its rho is
    negligible against its layer's (measures.selectivity.dead_on_data); class outputs (``kind``
    "class") are scores, never dead. Dead units have no selectivity."""
    if stats is None or layer not in stats.layers:
        return None
    item = stats.layers[layer]
    peak = objective_peaks(item, mode)
    dead = np.zeros(len(peak), dtype=bool) if kind == "class" else dead_on_data(peak)
    return {
        "selectivity": np.where(dead, np.nan, class_selectivity(item.class_means)),
        "preferred": preferred_class(item.class_means),
        "dead": dead,
        "peak": peak,
        # Every class has the same number of held-out clips, so this is the mean over clips.
        "mean": item.class_means.mean(axis=0),
        "class_means": item.class_means,
    }


def visualization_rows(
    stored: Sequence[StoredVisualization],
    media: Mapping[Path, Mapping[str, str] | None],
    peaks: Mapping[str, float | None],
    output: Path,
    flow_input: str | None,
    scores: Collection[str] = (),
) -> list[Row]:
    """One row per stored (unit, chi, seed), with its status (measures.status: ok, weak or failed);
    ``scores`` names the layers whose activation is not rectified (class outputs)."""
    rows = []
    for item in stored:
        meta, ref = item.meta, item.ref
        activation = _finite(meta.get("activation"))
        peak = peaks.get(ref.unit_id)
        status = result_status(meta.get("status", "ok"), activation, peak, rectified=ref.layer not in scores)
        paths = (media.get(ref.path) or {}) if item.ok and not status.startswith("failed") else {}
        terms = meta.get("terms") or {}
        rows.append(
            {
                "unit_id": ref.unit_id,
                "view": ref.view,
                "chi": ref.chi,
                "seed": ref.seed,
                "objective": _finite(meta.get("objective")),
                "activation": activation,
                "normalised_activation": activation / peak
                if activation is not None and peak and peak > 0
                else None,
                "steps": meta.get("steps"),
                "converged": converged(item.loss, _finite(terms.get("objective_term"))) if item.ok else None,
                "wall_seconds": _finite(meta.get("wall_seconds")),
                "status": status,
                "array": ref.path.relative_to(output).as_posix(),
                **{kind: paths.get(kind) for kind in MEDIA_KINDS},
                "poster": paths.get("composite_poster"),
                **{f"{kind}_poster": paths.get(f"{kind}_poster") for kind in PANEL_KINDS},
                "temporal_variation": _finite(terms.get(f"temporal_variation/{flow_input}"))
                if flow_input
                else None,
            }
        )
    return rows


def unit_rows(
    description: ModelDescription,
    units: Sequence[tuple[str, int]],
    visualizations: Sequence[Row],
    stats: DataStatistics | None,
    speed: Mapping[str, np.ndarray] | None,
    chis: Sequence[float],
    objective: str = "centre",
    appearance_change: Mapping[str, float | None] | None = None,
    tuning: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> list[Row]:
    """One row per unit that has at least one stored visualization (``objective``: visualize.objective;
    ``appearance_change``: unit id -> measures.coupling's change of its appearance across chi)."""
    by_unit: dict[str, list[Row]] = defaultdict(list)
    for row in visualizations:
        if row["view"] == JOINT:  # a unit's measures and poster come from its joint view
            by_unit[row["unit_id"]].append(row)
    middle = sorted(float(c) for c in chis)[len(chis) // 2]
    classes = list(description.classes)
    profile = list(stats.classes) if stats is not None else classes  # what class means are indexed by
    measures: dict[str, dict | None] = {}
    rows = []
    for layer, unit in units:
        info = description.layer(layer)
        if layer not in measures:
            measures[layer] = unit_measures(stats, layer, objective_mode(info, objective), info.kind)
        m = measures[layer]
        unit_id = description.unit_id(layer, unit)
        # Speed and chi act on the temporal inputs only: units they cannot reach get no score.
        sees_time = chi_reaches(description.inputs, info.streams)
        mine = by_unit[unit_id]
        per_chi: dict[float, list[float | None]] = defaultdict(list)
        for row in mine:
            # Every finite activation counts, weak and not-driven ones too: how hard the unit
            # can be driven under each chi is what the score compares.
            if row["activation"] is not None:
                per_chi[row["chi"]].append(row["activation"])
        ok = [r for r in mine if r["status"] == "ok" and r["composite"]]
        shown = min(ok, key=lambda r: (abs(r["chi"] - middle), r["seed"]), default=None)
        dead = bool(m["dead"][unit]) if m else False
        names = info.unit_names or (tuple(classes) if info.kind == "class" else None)
        rows.append(
            {
                "unit_id": unit_id,
                "stream": unit_stream(info, description),
                "layer": layer,
                "layer_depth": info.depth,
                "channel": unit,
                "class_name": names[unit] if info.kind == "class" and names and unit < len(names) else None,
                "selectivity": _finite(m["selectivity"][unit]) if m else None,
                "preferred_class": profile[int(m["preferred"][unit])] if m and not dead else None,
                "invariance_chi": chi_invariance(per_chi) if sees_time else None,
                "invariance_speed": _finite(speed[layer][unit])
                if speed and layer in speed and sees_time
                else None,
                "dead": dead,
                "act_peak": _finite(m["peak"][unit]) if m else None,
                "rho_reduction": rho_reduction(info, objective),
                "act_mean": _finite(m["mean"][unit]) if m else None,
                "class_means": m["class_means"][:, unit].astype(np.float32).tolist() if m else None,
                "poster": shown["poster"] if shown else None,
                "composite": shown["composite"] if shown else None,
                "ok_visualizations": sum(r["status"] == OK for r in mine),
                "appearance_chi_change": _finite((appearance_change or {}).get(unit_id)),
                **{
                    key: _finite(tuning[layer][key][unit]) if tuning and layer in tuning else None
                    for key in ("preferred_direction", "preferred_speed", "direction_selectivity")
                },
            }
        )
    return rows


RELIANCE = ("motion_zeroed", "appearance_zeroed")
"""The interventions whose per-class accuracy is the classes table's stream reliance."""


def class_rows(
    description: ModelDescription, stats: DataStatistics | None, answers: InterventionAnswers | None = None
) -> list[Row]:
    """Per class: accuracy and most-confused class on held-out clips (names and indices only without
    data), and with ``answers`` its stream reliance: accuracy on the same clips with the motion
    stream zeroed and with the appearance held at the mean frame."""
    classes = list(description.classes)
    has_class_layer = "class" in description.layer_names
    matrix = confusion_matrix(stats.test, len(classes)) if stats is not None and stats.predicted else None
    rows = []
    for i, name in enumerate(classes):
        row = {
            "class_name": name,
            "class_index": i,
            "unit_id": description.unit_id("class", i) if has_class_layer else f"class/{name}",
        }
        if matrix is not None:
            total = int(matrix[i].sum())
            wrong = matrix[i].copy()
            wrong[i] = 0
            worst = int(wrong.argmax())
            row.update(
                accuracy=float(matrix[i, i] / total) if total else None,
                most_confused_with=classes[worst] if wrong[worst] > 0 else None,
                confusion_rate=float(wrong[worst] / total) if total else None,
                clips=total,
            )
        if answers is not None and stats is not None:
            mine = stats.test.labels == i
            row.update(
                {
                    f"accuracy_{name}": float((answers.test[name][mine] == i).mean()) if mine.any() else None
                    for name in RELIANCE
                }
            )
        rows.append(row)
    return rows


def confusion_rows(description: ModelDescription, stats: DataStatistics | None) -> list[Row]:
    """Every (true, predicted) pair with at least one held-out clip, diagonal included."""
    if stats is None or not stats.predicted:
        return []
    classes = list(description.classes)
    matrix = confusion_matrix(stats.test, len(classes))
    totals = matrix.sum(axis=1)
    return [
        {
            "true_class": classes[i],
            "predicted_class": classes[j],
            "count": int(matrix[i, j]),
            "rate": float(matrix[i, j] / totals[i]),
        }
        for i, j in zip(*np.nonzero(matrix))
    ]


def top_clip_units(units: Sequence[Row]) -> list[Row]:
    """The units that get top clips: live units (a dead unit's 'top' clips are arbitrary)."""
    return [u for u in units if not u["dead"]]


def top_clip_rows(
    description: ModelDescription,
    units: Sequence[Row],
    stats: DataStatistics | None,
    media: Mapping[tuple[str, int], Mapping[str, str] | None],
    overlays: Mapping[tuple[str, int], Any] | None = None,
) -> list[Row]:
    """Per live unit, its top held-out clips with activation, true and predicted class and media
    (and, for a spatial unit, where it fires in the clip: ``overlays`` by (unit id, clip), see
    generator.pipeline.overlays)."""
    if stats is None:
        return []
    classes = list(stats.classes)  # the names labels index (the data set's for a model without classes)
    rows = []
    for unit in top_clip_units(units):
        item = stats.layers[unit["layer"]]
        channel = unit["channel"]
        for rank, (clip, value) in enumerate(zip(item.top_clips[channel], item.top_values[channel]), start=1):
            rows.append(
                {"unit_id": unit["unit_id"], "rank": rank}
                | _clip_fields(int(clip), float(value), classes, stats, media)
                | _overlay_fields((overlays or {}).get((unit["unit_id"], int(clip))))
            )
    return rows


def _clip_fields(
    clip: int,
    value: float,
    classes: list[str],
    stats: DataStatistics,
    media: Mapping[tuple[str, int], Mapping[str, str] | None],
) -> Row:
    """The columns every row that shows a held-out clip has: index, classes, response, media."""
    paths = media.get(("test", clip)) or {}
    return {
        "clip_index": clip,
        "class_name": classes[int(stats.test.labels[clip])],
        "predicted_class": classes[int(stats.test.predictions[clip])] if stats.predicted else None,
        "activation": value,
        "composite": paths.get("composite"),
        "poster": paths.get("composite_poster"),
    }


def _overlay_fields(overlay: Any) -> Row:
    """The overlay columns of a row that shows a clip: where the unit fires in it (null without one)."""
    if overlay is None:
        return {"overlay": None, "overlay_poster": None, "overlay_high": None}
    return {"overlay": overlay.video, "overlay_poster": overlay.poster, "overlay_high": overlay.high}


def histogram_rows(units: Sequence[Row], stats: DataStatistics | None) -> list[Row]:
    """Per live unit, the histogram of its responses over the held-out clips."""
    if stats is None:
        return []
    rows = []
    for unit in top_clip_units(units):
        item = stats.layers[unit["layer"]]
        if item.clip_means is None:
            continue
        rows.extend(histogram_bins(unit["unit_id"], item.clip_means[:, unit["channel"]]))
    return rows


def sampled_clips(units: Sequence[Row], stats: DataStatistics) -> dict[str, list[tuple[float, int, float]]]:
    """unit id -> (quantile, clip, response) of the clips sampled across its activation range."""
    found = {}
    for unit in top_clip_units(units):
        item = stats.layers[unit["layer"]]
        if item.clip_means is not None:
            found[unit["unit_id"]] = quantile_samples(item.clip_means[:, unit["channel"]])
    return found


def clip_sample_rows(
    description: ModelDescription,
    units: Sequence[Row],
    stats: DataStatistics | None,
    media: Mapping[tuple[str, int], Mapping[str, str] | None],
    overlays: Mapping[tuple[str, int], Any] | None = None,
) -> list[Row]:
    """Per live unit, the held-out clips sampled at several quantiles of its responses, with media
    and overlays (as :func:`top_clip_rows`)."""
    if stats is None:
        return []
    classes = list(stats.classes)
    rows = []
    for unit_id, samples in sampled_clips(units, stats).items():
        rows.extend(
            {"unit_id": unit_id, "quantile": quantile}
            | _clip_fields(clip, value, classes, stats, media)
            | _overlay_fields((overlays or {}).get((unit_id, clip)))
            for quantile, clip, value in samples
        )
    return rows
