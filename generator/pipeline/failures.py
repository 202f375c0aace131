"""Failure cases of the manifest: the most-confused class pairs and the counterfactual bias probes.

Pairs come from the held-out confusion matrix (the two pairs with the largest mutual
confusion, a->b rate + b->a rate as in the model card); probes from the probe-set
predictions cached with the statistics (measured in this build, not copied from the card).
Each case lists a few misclassified clips, whose media the media stage writes, and, where
the world feeds the model, its evidence (generator.pipeline.evidence).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generator.measures.classification import Evaluation, confused_pairs, confusion_matrix, probe_record
from generator.pipeline.evidence import conclusions, confusion_table, cue_sentence, cue_verdict, flip_row
from generator.pipeline.interventions import SINGLE_STREAM, InterventionAnswers
from generator.pipeline.statistics import DataStatistics
from generator.store.manifest import failure_slug

PAIR_CASES = 2
CLIPS_PER_CASE = 4
PROBE_CLASSES: dict[str, tuple[str, str]] = {
    "eyemakeup_blink": ("ApplyEyeMakeup", "ApplyLipstick"),
    "cello_violin_swap": ("PlayingCello", "PlayingViolin"),
}
PROBE_TITLES = {
    "eyemakeup_blink": "Bias probe: ApplyEyeMakeup with blinking eyes",
    "cello_violin_swap": "Bias probe: cello and violin held the other way",
}
PROBE_DESCRIPTIONS = {
    "eyemakeup_blink": (
        "Held-out ApplyEyeMakeup clips re-rendered with blinking eyes: in training the eyes never move in "
        "ApplyEyeMakeup and blink in most ApplyLipstick clips, so a model that learnt this bias moves them "
        "towards ApplyLipstick."
    ),
    "cello_violin_swap": (
        "Held-out PlayingCello clips re-rendered with the instrument horizontal and PlayingViolin clips with it "
        "vertical, the bow turned with it so that it still strokes across the strings: a model that keys on the "
        "instrument's alignment or on the bow's stroke direction flips its answer. The single-stream versions "
        "below tell which."
    ),
}


@dataclass(frozen=True)
class CaseClip:
    """A misclassified clip of a failure case (split and index name the clip to render)."""

    split: str
    index: int
    true_class: str
    predicted_class: str


@dataclass(frozen=True)
class CaseDraft:
    """A failure case before its clips have media."""

    record: dict[str, Any]  # slug, kind, title, classes, numbers[, probe, description]
    clips: tuple[CaseClip, ...]


UnitMeans = Callable[[str, np.ndarray, list[str]], dict[str, dict[str, float]]]
"""(probe, twins, unit ids) -> unit id -> {"probe": mean, "ordinary": mean}."""


def draft_failure_cases(
    stats: DataStatistics,
    classes: Sequence[str],
    answers: InterventionAnswers | None = None,
    shared_units: Callable[[str, str], list[str]] | None = None,
    unit_means: UnitMeans | None = None,
) -> list[CaseDraft]:
    """The top confused pairs and one case per probe (empty without data). With ``answers`` each
    case also gets its evidence (interventions, the probe's own confusion matrix, the top shared
    units (``shared_units(a, b)``, measured by ``unit_means``) and conclusions)."""
    if not stats.predicted:  # a model without class outputs: nothing is misclassified
        return []
    drafts = []
    matrix = confusion_matrix(stats.test, len(classes))
    for pair in confused_pairs(matrix, tuple(classes))[:PAIR_CASES]:
        if pair["rate"] <= 0:
            continue
        a, b = pair["classes"]
        ia, ib = classes.index(a), classes.index(b)
        record = {
            "slug": failure_slug([a, b]),
            "kind": "pair",
            "title": f"{a} vs {b}",
            "classes": [a, b],
            # The card's rate is a->b + b->a (up to 2); the mean of the two is a share of clips, in [0, 1].
            "numbers": {
                "rate": (pair["a_as_b"] + pair["b_as_a"]) / 2,
                "a_as_b": pair["a_as_b"],
                "b_as_a": pair["b_as_a"],
            },
        }
        if answers is not None:
            record["evidence"] = case_evidence(stats, classes, (a, b), answers, None, [], None)
        clips = _misclassified(stats.test, "test", classes, [(ia, ib), (ib, ia)])
        drafts.append(CaseDraft(record, clips))
    for name, evaluation in stats.probes.items():
        a, b = PROBE_CLASSES.get(name, (None, None))
        if a not in classes or b not in classes:
            continue
        # Measured in this build (its probe and test sets), not taken from the model card.
        result = probe_record(name, evaluation, stats.test, classes)
        record = {
            "slug": failure_slug(["probe", name]),
            "kind": "probe",
            "probe": name,
            "title": PROBE_TITLES.get(name, f"Bias probe: {name}"),
            "classes": [a, b],
            "description": PROBE_DESCRIPTIONS.get(name, ""),
            "numbers": probe_numbers(result),
        }
        if answers is not None:
            units = shared_units(a, b) if shared_units is not None else []
            record["evidence"] = case_evidence(stats, classes, (a, b), answers, name, units, unit_means)
        wrong = [(classes.index(c), None) for c in (a, b) if c in _probe_classes(evaluation, classes)]
        drafts.append(CaseDraft(record, _misclassified(evaluation, f"probe:{name}", classes, wrong)))
    return drafts


def case_evidence(
    stats: DataStatistics,
    classes: Sequence[str],
    pair: tuple[str, str],
    answers: InterventionAnswers,
    probe: str | None,
    unit_ids: list[str],
    unit_means: UnitMeans | None,
) -> dict[str, Any]:
    """The evidence record of one case (see docs/tables.md, "Failure cases")."""
    ia, ib = classes.index(pair[0]), classes.index(pair[1])
    other = {ia: ib, ib: ia}
    labels, before = stats.test.labels, stats.test.predictions
    evidence: dict[str, Any] = {"interventions": []}
    if probe is not None:
        evaluation, twins = stats.probes[probe], answers.twins[probe]
        has_twin = twins >= 0
        probe_labels = evaluation.labels[has_twin]
        twin_answers = before[twins[has_twin]]
        evidence["probe_confusion"] = confusion_table(
            evaluation.labels, evaluation.predictions, classes, pair
        )
        versions = {"probe": evaluation.predictions, **answers.probes[probe]}
        for name in ("probe", *SINGLE_STREAM):
            row = flip_row(name, probe_labels, twin_answers, versions[name][has_twin], other)
            evidence["interventions"].append(row)
        evidence["cue"] = cue_verdict(evidence["interventions"])
        if unit_ids and unit_means is not None:
            means = unit_means(probe, twins, unit_ids)
            evidence["units"] = [{"unit_id": u, **means[u]} for u in unit_ids]
    chosen = np.flatnonzero((labels == ia) | (labels == ib))
    for name, after in answers.test.items():
        evidence["interventions"].append(flip_row(name, labels[chosen], before[chosen], after[chosen], other))
    evidence["conclusions"] = conclusions(evidence, pair, probe)
    evidence["cue_sentence"] = cue_sentence(evidence, probe)
    return evidence


def probe_numbers(result: Mapping[str, Any]) -> dict[str, float]:
    """The numbers a probe page shows: probe and clean accuracy, and the card's summary numbers."""
    numbers: dict[str, float] = {}
    if _is_number(result.get("accuracy")):
        numbers["accuracy"] = float(result["accuracy"])
    per_class = result.get("per_class") or {}
    clips = sum(int(item.get("clips", 0)) for item in per_class.values())
    if clips:
        numbers["clean_accuracy"] = (
            sum(item["clean_accuracy"] * item["clips"] for item in per_class.values()) / clips
        )
    for key, value in result.items():
        if key not in ("accuracy", "per_class") and _is_number(value):
            numbers[key] = float(value)
    return numbers


def finish_case(
    draft: CaseDraft, media: Mapping[tuple[str, int], Mapping[str, str] | None]
) -> dict[str, Any]:
    """The manifest record of a case, its clips with their media paths (None where media failed)."""
    clips = []
    for clip in draft.clips:
        paths = media.get((clip.split, clip.index)) or {}
        clips.append(
            {
                "clip_index": clip.index,
                "true_class": clip.true_class,
                "predicted_class": clip.predicted_class,
                "composite": paths.get("composite"),
                "poster": paths.get("composite_poster"),
            }
        )
    return {**draft.record, "clips": clips}


def _probe_classes(evaluation: Evaluation, classes: Sequence[str]) -> list[str]:
    return [classes[i] for i in sorted(set(int(label) for label in evaluation.labels))]


def _misclassified(
    evaluation: Evaluation, split: str, classes: Sequence[str], directions: Sequence[tuple[int, int | None]]
) -> tuple[CaseClip, ...]:
    """Up to CLIPS_PER_CASE clips, shared fairly between the directions (true, predicted or None = any wrong)."""
    pools = []
    for true, predicted in directions:
        wrong = evaluation.predictions != evaluation.labels
        mask = (evaluation.labels == true) & (
            wrong if predicted is None else evaluation.predictions == predicted
        )
        pools.append([int(i) for i in np.flatnonzero(mask)])
    chosen: list[int] = []
    while len(chosen) < CLIPS_PER_CASE and any(pools):
        for pool in pools:
            if pool and len(chosen) < CLIPS_PER_CASE:
                chosen.append(pool.pop(0))
    return tuple(
        CaseClip(split, i, classes[int(evaluation.labels[i])], classes[int(evaluation.predictions[i])])
        for i in chosen
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
