"""Numbers the pages derive from the tables: layer summaries, similar units, trends and the
generated sentences of the findings and failure-case pages. Pure functions of records."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

Row = dict[str, Any]


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None/NaN (None if there are none)."""
    kept = [float(v) for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None


def shown(unit: Row) -> bool:
    """Whether a unit may be featured (findings, galleries' rankings, failure pages): it is not
    dead on the data and has at least one visualization with status "ok"."""
    return not unit["dead"] and bool(unit.get("ok_visualizations", 0))


def converged_rate(rows: Iterable[Row]) -> float | None:
    """Share of the finished visualizations (converged not null) whose loss had levelled off."""
    flags = [bool(r["converged"]) for r in rows if r.get("converged") is not None]
    return sum(flags) / len(flags) if flags else None


def layer_summary(
    layer: Row, units: Sequence[Row], visualizations: Mapping[str, Sequence[Row]] | None = None
) -> Row:
    """One row of the per-layer table: counts and mean measures."""
    return {
        **layer,
        "count": len(units),
        "dead": sum(bool(u["dead"]) for u in units),
        "selectivity": mean(u["selectivity"] for u in units),
        "invariance_chi": mean(u["invariance_chi"] for u in units),
        "invariance_speed": mean(u["invariance_speed"] for u in units),
        "converged": converged_rate(r for u in units for r in (visualizations or {}).get(u["unit_id"], ())),
        "ok": sum(r["status"] == "ok" for u in units for r in (visualizations or {}).get(u["unit_id"], ())),
        "results": sum(len((visualizations or {}).get(u["unit_id"], ())) for u in units),
    }


def similar_units(units: Sequence[Row], count: int = 4, chunk: int = 1024) -> dict[str, list[str]]:
    """For each live unit of one layer, the ``count`` units with the most similar selectivity
    profile (cosine similarity of class-conditional means)."""
    live = [u for u in units if not u["dead"] and u.get("class_means")]
    if len(live) < 2:
        return {}
    profiles = np.asarray([u["class_means"] for u in live], dtype=np.float32)
    profiles = profiles - profiles.mean(axis=1, keepdims=True)  # compare shapes, not overall level
    norms = np.linalg.norm(profiles, axis=1, keepdims=True)
    profiles = profiles / np.where(norms > 0, norms, 1)
    k = min(count, len(live) - 1)
    result: dict[str, list[str]] = {}
    for start in range(0, len(live), chunk):
        block = profiles[start : start + chunk] @ profiles.T
        rows = np.arange(block.shape[0])
        block[rows, rows + start] = -np.inf  # not itself
        best = (
            np.argpartition(-block, k - 1, axis=1)[:, :k]
            if k < len(live)
            else np.argsort(-block, axis=1)[:, :k]
        )
        for row, candidates in zip(rows, best):
            ordered = candidates[np.argsort(-block[row, candidates], kind="stable")]
            result[live[start + row]["unit_id"]] = [live[i]["unit_id"] for i in ordered]
    return result


def ranks(values: Sequence[float]) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    result[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        result[tied] = result[tied].mean()
    return result


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation of paired values (None for fewer than 3 pairs or no spread)."""
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None and not math.isnan(b)]
    if len(pairs) < 3:
        return None
    rx, ry = ranks([p[0] for p in pairs]), ranks([p[1] for p in pairs])
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def trend_sentence(what: str, along: str, rho: float | None) -> str:
    """'Mean selectivity rises with depth (Spearman rho = 0.93).' and the like."""
    if rho is None:
        return f"Too few values to tell how {what} changes with {along}."
    if rho >= 0.5:
        verb = "rises clearly"
    elif rho >= 0.2:
        verb = "tends to rise"
    elif rho > -0.2:
        verb = "shows no clear trend"
    elif rho > -0.5:
        verb = "tends to fall"
    else:
        verb = "falls clearly"
    trend = verb if verb.startswith("shows") else f"{verb} with {along}"
    return f"{what[0].upper()}{what[1:]} {trend} (Spearman \u03c1 = {rho:+.2f})."


def first_to_last_sentence(
    what: str, key: str, layers: Sequence[Row], by_layer: Mapping[str, Sequence[Row]]
) -> str:
    """How ``key`` changes from the first layer (by depth) that has a value to the last one.

    The change of the layer means is compared with its standard error (from the spread of
    the units' values): the claim "grows from the first to the last layer" is only called
    clear when the rise exceeds two standard errors.
    """
    scored = []
    for layer in sorted(layers, key=lambda row: row["depth"]):  # stable: registry order within a depth
        values = [float(u[key]) for u in by_layer.get(layer["name"], ()) if u.get(key) is not None]
        values = [v for v in values if math.isfinite(v)]
        if values:
            scored.append((layer["name"], np.asarray(values)))
    if len(scored) < 2:
        return f"Too few layers with a value to compare the first and last layer's {what}."
    (first, a), (last, b) = scored[0], scored[-1]
    change = float(b.mean() - a.mean())
    error = math.sqrt(sum(v.var(ddof=1) / len(v) if len(v) > 1 else 0.0 for v in (a, b)))
    if error > 0 and abs(change) <= 2 * error:
        verdict = f"within two standard errors ({error:.2f}): no clear change"
    else:
        verdict = f"a clear {'rise' if change > 0 else 'fall'} (standard error {error:.2f})"
    return (
        f"From the first layer with a value ({first}: {a.mean():.2f}, {len(a)} units) to the last "
        f"({last}: {b.mean():.2f}, {len(b)} units), {what} changes by {change:+.2f}, {verdict}."
    )


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def drivers(
    units: Sequence[Row], class_index: Mapping[str, int], a: str, b: str, count: int = 6
) -> dict[str, Any]:
    """Units that drive a confusion: ``by_class``, the most selective for ``a`` and for ``b``, and
    ``shared``, those that respond strongly to both (largest min(mean_a, mean_b) relative to the
    unit's mean over classes)."""
    live = [u for u in units if shown(u) and u["layer"] != "class"]
    result: dict[str, Any] = {"by_class": []}
    for name in (a, b):
        chosen = [u for u in live if u["preferred_class"] == name and u["selectivity"] is not None]
        result["by_class"].append((name, sorted(chosen, key=lambda u: -u["selectivity"])[:count]))
    ia, ib = class_index.get(a), class_index.get(b)
    shared = []
    if ia is not None and ib is not None:
        for unit in live:
            means = unit.get("class_means")
            if not means:
                continue
            average = sum(means) / len(means)
            if average > 0:
                shared.append((min(means[ia], means[ib]) / average, unit))
    result["shared"] = [u for _, u in sorted(shared, key=lambda t: -t[0])[:count]]
    return result


def pair_explanation(
    case: Row, class_by_name: Mapping[str, Row], rates: Mapping[tuple[str, str], float], shared: Sequence[Row]
) -> str:
    """A sentence from the numbers of a most-confused pair."""
    a, b = case["classes"][:2]
    ab, ba = rates.get((a, b), 0.0), rates.get((b, a), 0.0)
    acc_a = class_by_name.get(a, {}).get("accuracy")
    acc_b = class_by_name.get(b, {}).get("accuracy")
    text = (
        f"The model labels {percent(ab)} of the held-out {a} clips as {b} and {percent(ba)} of the {b} clips "
        f"as {a} (accuracy {percent(acc_a)} and {percent(acc_b)})."
    )
    if shared:
        layers = sorted({u["layer"] for u in shared})
        text += (
            f" {len(shared)} units respond strongly to both classes, in {', '.join(layers)}; the strongest is "
            f"{shared[0]['unit_id']}."
        )
    stream = next(
        (c for c in (case.get("evidence") or {}).get("conclusions", []) if c.startswith("These two")), None
    )
    if stream:
        text += f" {stream.rstrip('.')}, as the interventions below show."
    return text


def probe_explanation(case: Row) -> str:
    """A sentence from the numbers of a bias probe."""
    numbers = case["numbers"]
    a, b = (case["classes"] + [None, None])[:2]
    drop = numbers.get("accuracy_drop_points")
    clean, probe = numbers.get("clean_accuracy"), numbers.get("accuracy")
    text = case.get("description", "") + " " if case.get("description") else ""
    if clean is not None and probe is not None:
        text += f"Accuracy on these clips is {percent(probe)} against {percent(clean)} on ordinary clips"
        text += f" ({drop:.0f} points lower)." if drop is not None else "."
    elif probe is not None:
        text += f"Accuracy on the probe clips is {percent(probe)}."
    share = next((v for k, v in numbers.items() if k.startswith("errors_to")), None)
    if share is not None and b:
        text += f" {percent(share)} of the errors go to {b}."
    flipped = numbers.get("flipped_fraction")
    if flipped is not None:
        text += f" {percent(flipped)} of the probe clips flip their answer."
    return text.strip() or f"See the numbers of this probe of {a}."


def reliance_sentence(row: Row) -> str:
    """What a class keeps without each stream, from its classes-table row."""
    accuracy, motion, appearance = (
        row.get("accuracy"),
        row.get("accuracy_motion_zeroed"),
        row.get("accuracy_appearance_zeroed"),
    )
    if accuracy is None or motion is None or appearance is None:
        return ""
    lost_motion, lost_appearance = accuracy - motion, accuracy - appearance
    text = (
        f"Accuracy {percent(accuracy)}; with the motion stream zeroed {percent(motion)} "
        f"({-100 * lost_motion:+.0f} points), with the appearance at the mean frame {percent(appearance)} "
        f"({-100 * lost_appearance:+.0f} points)."
    )
    if max(lost_motion, lost_appearance) < 0.1:
        return text + " The class keeps its accuracy without either stream alone."
    if abs(lost_motion - lost_appearance) < 0.1:
        return text + " The class loses about as much without either stream."
    return (
        text
        + f" The class relies more on the {'motion' if lost_motion > lost_appearance else 'appearance'} stream."
    )


def number_label(key: str, classes: Sequence[str]) -> str:
    """A readable name for a failure-case number such as ``a_as_b`` or ``errors_to_ApplyLipstick``."""
    a, b = (list(classes) + ["A", "B"])[:2]
    known = {
        "rate": "confused, both directions",
        "a_as_b": f"{a} clips predicted as {b}",
        "b_as_a": f"{b} clips predicted as {a}",
        "accuracy": "accuracy on the probe clips",
        "clean_accuracy": "accuracy on ordinary clips",
        "accuracy_drop_points": "accuracy drop",
        "flipped_fraction": "probe clips whose answer flips",
        "errors_to_b": f"errors that go to {b}",
    }
    if key in known:
        return known[key]
    if key.startswith("errors_to_"):
        return f"errors that go to {key[len('errors_to_') :]}"
    return key.replace("_", " ")


# The paper's claim 2 is called shown when the fusion units' median relative change of the
# optimised appearance across chi reaches this (5 %: a change one can see side by side) and
# exceeds every single-stream unit's. *(choice)*
JOINT_CHANGE = 0.05


def _spread(values: Sequence[float]) -> Row:
    array = np.asarray(values, dtype=np.float64)
    low, middle, high = np.percentile(array, [25, 50, 75])
    return {
        "count": len(array),
        "median": float(middle),
        "low": float(low),
        "high": float(high),
        "max": float(array.max()),
    }


def appearance_change_by_stream(units: Sequence[Row]) -> list[Row]:
    """Per stream: the spread over its live units of units.appearance_chi_change."""
    groups: dict[str, list[float]] = {}
    for unit in units:
        value = unit.get("appearance_chi_change")
        if unit["dead"] or value is None or not math.isfinite(value):
            continue
        groups.setdefault(unit["stream"], []).append(float(value))
    return [{"stream": stream, **_spread(values)} for stream, values in groups.items()]


def joint_feature_sentence(by_stream: Sequence[Row], seeds: int) -> str:
    """The paper's claim 2 (fusion units learn joint features) against this atlas's measurement."""
    found = {row["stream"]: row for row in by_stream}
    fusion = found.get("fusion")
    if fusion is None:
        return "Not shown here: no fusion unit of this atlas has an appearance measured at two or more \u03c7 values."
    single = [found[s] for s in ("appearance", "motion") if s in found]
    single_max = max((row["max"] for row in single), default=None)
    seeds_note = "one seed, so no spread over seeds" if seeds == 1 else f"mean over {seeds} seeds per unit"
    measured = (
        f"the optimised appearance of the fusion units changes across \u03c7 by a median of "
        f"{100 * fusion['median']:.1f} % (relative RMS change; quartiles {100 * fusion['low']:.1f}-"
        f"{100 * fusion['high']:.1f} % over {fusion['count']} units, {seeds_note})"
    )
    if single_max is not None:
        measured += f", against at most {100 * single_max:.1f} % for single-stream units"
    if fusion["median"] >= JOINT_CHANGE and (single_max is None or fusion["median"] > single_max):
        return f"Shown here: {measured}. Appearance and motion of a fusion unit are optimised jointly."
    return (
        f"Not shown here: {measured}; the claim needs a median of at least {100 * JOINT_CHANGE:.0f} % "
        f"above the single-stream units."
    )


def _layer_values(
    layers: Sequence[Row], by_layer: Mapping[str, Sequence[Row]], key: str
) -> list[tuple[int, str, np.ndarray]]:
    """(depth, layer, finite values of ``key`` over its live units) for every layer that has any, by depth."""
    found = []
    for layer in sorted(layers, key=lambda row: row["depth"]):
        values = [
            float(u[key]) for u in by_layer.get(layer["name"], ()) if not u["dead"] and u.get(key) is not None
        ]
        values = [v for v in values if math.isfinite(v)]
        if values:
            found.append((layer["depth"], layer["name"], np.asarray(values)))
    return found


def speed_claim_sentence(layers: Sequence[Row], by_layer: Mapping[str, Sequence[Row]]) -> str:
    """The paper's claim 4 (invariance to motion speed grows with depth), tested by the data-driven
    speed score (method.md): shown when the layer means rise with depth (Spearman rho >= 0.5 over
    the layers) and the last layer's mean exceeds the first's by more than two standard errors."""
    found = _layer_values(layers, by_layer, "invariance_speed")
    if len(found) < 3:
        return "Not shown here: fewer than three layers have a speed-invariance score to test the claim."
    rho = spearman([d for d, _, _ in found], [float(v.mean()) for _, _, v in found])
    (_, first, a), (_, last, b) = found[0], found[-1]
    change = float(b.mean() - a.mean())
    error = math.sqrt(sum(v.var(ddof=1) / len(v) if len(v) > 1 else 0.0 for v in (a, b)))
    numbers = (
        (
            f"the layer means of the speed-invariance score (real clips replayed at several speeds) have "
            f"Spearman \u03c1 = {rho:+.2f} with depth over {len(found)} layers, and go from "
            f"{a.mean():.2f} ({first}, {len(a)} units) to {b.mean():.2f} ({last}, {len(b)} units), "
            f"a change of {change:+.2f} \u00b1 {error:.2f} (standard error over units; the score involves no "
            f"optimisation seed)"
        )
        if rho is not None
        else (f"the speed-invariance layer means have no spread across depth ({len(found)} layers)")
    )
    if rho is not None and rho >= 0.5 and change > 2 * error:
        return f"Shown here: {numbers}. Deeper units respond more evenly to slow and fast motion."
    return f"Not shown here: {numbers}."


def class_range_sentence(units: Sequence[Row]) -> str:
    """The paper's claim 3 (units range from class-specific to generic), from the selectivity of
    the live units: shown when the middle half of the units spans at least 0.2 and the range
    reaches both below 0.2 and above 0.5. *(choice)*"""
    values = np.asarray(
        [float(u["selectivity"]) for u in units if u.get("selectivity") is not None], dtype=float
    )
    values = values[np.isfinite(values)]
    if len(values) < 4:
        return "Not shown here: fewer than four live units have a selectivity index."
    low, q1, q3, high = np.min(values), *np.percentile(values, [25, 75]), np.max(values)
    numbers = (
        f"the class selectivity of {len(values)} live units (with an ok visualization) runs from "
        f"{low:.2f} to {high:.2f}, quartiles {q1:.2f}-{q3:.2f} (measured on held-out clips; no seed involved)"
    )
    if q3 - q1 >= 0.2 and low < 0.2 and high > 0.5:
        return f"Shown here: {numbers}."
    return f"Not shown here: {numbers}."


def stream_lines(summaries: Sequence[Row], key: str) -> list[tuple[str, list[tuple[float, float | None]]]]:
    """One (stream, [(depth, layer mean of ``key``)]) line per stream, streams in order of first depth."""
    lines: dict[str, list[tuple[float, float | None]]] = {}
    for summary in sorted(summaries, key=lambda row: row["depth"]):
        lines.setdefault(summary["stream"], []).append((summary["depth"], summary[key]))
    return list(lines.items())
