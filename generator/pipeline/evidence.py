"""The evidence of a failure case: the probe's own confusion matrix, the flips under
single-stream and temporal interventions, the top shared units on probe against ordinary
clips, and conclusion sentences written only from those numbers (method.md, "Evidence
behind every claim"). Pure functions of predictions and measured means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from generator.world.interventions import INTERVENTION_LABELS

SUBSTANTIAL = 0.25
"""A share of flipped answers at or above which an edit is said to move the model."""
DOMINANT = 2.0
"""How many times more flips one stream's edit must cause than the other's to be named the cue."""

PROBE_CUES: dict[str, dict[str, str]] = {
    "cello_violin_swap": {"appearance": "the instrument's alignment", "motion": "the bow's stroke direction"},
    "eyemakeup_blink": {
        "appearance": "the eyelids as seen in the frames",
        "motion": "the blinking eyelids' motion",
    },
}
"""What each stream of a probe changes, named for the conclusion."""


def flip_row(
    name: str, labels: np.ndarray, before: np.ndarray, after: np.ndarray, other: Mapping[int, int]
) -> dict:
    """Counts of one intervention on clips with true ``labels``: answers that change, answers
    that name the case's other class after it and before it, and accuracy before and after."""
    n = len(labels)
    to_other = np.array([other.get(int(label), -1) for label in labels], dtype=np.int64)
    return {
        "name": name,
        "label": INTERVENTION_LABELS.get(name, name.replace("_", " ")),
        "clips": int(n),
        "flips": int((after != before).sum()),
        "to_other": int((after == to_other).sum()),
        "to_other_before": int((before == to_other).sum()),
        "accuracy_before": float((before == labels).mean()) if n else None,
        "accuracy_after": float((after == labels).mean()) if n else None,
    }


def confusion_table(
    labels: np.ndarray, predictions: np.ndarray, classes: Sequence[str], case_classes: Sequence[str]
) -> dict[str, Any]:
    """Counts by true class (rows: the classes present) and predicted class (columns: the case's
    classes first, then any other class predicted)."""
    rows_present = [classes[i] for i in sorted(set(int(x) for x in labels))]
    predicted = [classes[i] for i in sorted(set(int(x) for x in predictions))]
    columns = list(case_classes) + [c for c in predicted if c not in case_classes]
    counts = {
        true: {
            col: int(((labels == classes.index(true)) & (predictions == classes.index(col))).sum())
            for col in columns
        }
        for true in rows_present
    }
    return {"rows": rows_present, "columns": columns, "counts": counts}


def cue_verdict(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Which stream carries the cue, from the single-stream probes' shares of answers going to the
    other class: "motion", "appearance", "both", "neither" (None without both probes)."""
    share = {r["name"]: r["to_other"] / r["clips"] for r in rows if r["clips"]}
    if "flow_only" not in share or "appearance_only" not in share:
        return None
    flow, appearance = share["flow_only"], share["appearance_only"]
    if flow >= SUBSTANTIAL and flow >= DOMINANT * appearance:
        return "motion"
    if appearance >= SUBSTANTIAL and appearance >= DOMINANT * flow:
        return "appearance"
    if flow >= SUBSTANTIAL and appearance >= SUBSTANTIAL:
        return "both"
    return "neither"


def _share(row: Mapping[str, Any], key: str) -> str:
    return f"{row[key]} of {row['clips']} ({100 * row[key] / max(row['clips'], 1):.0f} %)"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def cue_sentence(evidence: Mapping[str, Any], probe: str | None) -> str | None:
    """The single-stream probes' verdict on the cue the model uses, with its numbers (None without it)."""
    rows = {r["name"]: r for r in evidence.get("interventions", [])}
    cue = evidence.get("cue")
    if cue is None or probe is None:
        return None
    flow, app = rows["flow_only"], rows["appearance_only"]
    names = PROBE_CUES.get(probe, {"appearance": "the appearance cue", "motion": "the motion cue"})
    numbers = (
        f"the flow-only probe (the probe's flow with the ordinary appearance) sends {_share(flow, 'to_other')} "
        f"answers to the other class; the appearance-only probe sends {_share(app, 'to_other')}"
    )
    verdicts = {
        "motion": f"The model keys on {names['motion']} (the motion stream)",
        "appearance": f"The model keys on {names['appearance']} (the appearance stream)",
        "both": f"The model uses both {names['motion']} and {names['appearance']}",
        "neither": "Neither stream alone moves the model",
    }
    return f"{verdicts[cue]}: {numbers}."


def conclusions(evidence: Mapping[str, Any], classes: Sequence[str], probe: str | None) -> list[str]:
    """Sentences that state only what the numbers of ``evidence`` show."""
    a, b = classes[:2]
    rows = {r["name"]: r for r in evidence.get("interventions", [])}
    out = []
    if "probe" in rows:
        r = rows["probe"]
        out.append(
            f"On the probe clips, {_share(r, 'to_other')} answers go to the other class of the pair "
            f"({_share(r, 'flips')} differ from the answer on the ordinary twin clip)."
        )
    verdict = cue_sentence(evidence, probe)
    if verdict:
        out.append(verdict)
    zeroed_m, zeroed_a = rows.get("motion_zeroed"), rows.get("appearance_zeroed")
    if zeroed_m and zeroed_a:
        out.append(
            f"On the ordinary {a} and {b} clips (accuracy {_pct(zeroed_m['accuracy_before'])}), zeroing the motion "
            f"stream changes {_share(zeroed_m, 'flips')} answers (accuracy {_pct(zeroed_m['accuracy_after'])}); "
            f"holding the appearance at the mean frame changes {_share(zeroed_a, 'flips')} "
            f"(accuracy {_pct(zeroed_a['accuracy_after'])})."
        )
        if zeroed_m["accuracy_after"] is not None and zeroed_a["accuracy_after"] is not None:
            gap = zeroed_a["accuracy_after"] - zeroed_m["accuracy_after"]
            if abs(gap) >= 0.1:
                stream = "motion" if gap > 0 else "appearance"
                out.append(f"These two classes rely more on the {stream} stream.")
    reversed_, frozen = rows.get("time_reversed"), rows.get("frames_frozen")
    if reversed_ and frozen:
        out.append(
            f"Reversing time changes {_share(reversed_, 'flips')} answers; after it {_share(reversed_, 'to_other')} "
            f"name the other class of the pair, against {reversed_['to_other_before']} before. Freezing the frames "
            f"changes {_share(frozen, 'flips')}."
        )
    units = evidence.get("units") or []
    if units and probe is not None:
        top = units[0]
        if top["ordinary"] > 0:
            out.append(
                f"The strongest live shared unit, {top['unit_id']}, responds {top['probe'] / top['ordinary']:.2f}x "
                f"as much on the probe clips as on their ordinary twins ({top['probe']:.3g} against "
                f"{top['ordinary']:.3g})."
            )
    return out
