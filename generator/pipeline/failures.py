"""Failure cases of the manifest: the most-confused class pairs and the counterfactual bias probes.

Pairs come from the held-out confusion matrix (the two pairs with the largest mutual
confusion, a->b rate + b->a rate as in the model card); probes from the model card's probe
results, or, for a model without a card, from the probe-set predictions cached with the
statistics. Each case lists a few misclassified clips, whose media the media stage writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generator.pipeline.statistics import DataStatistics
from generator.store.tables import failure_slug
from generator.train import Evaluation, confused_pairs, confusion_matrix, probe_record

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
        "vertical, the bowing unchanged: a model that keys on the instrument's alignment flips its answer."
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


def draft_failure_cases(
    stats: DataStatistics, classes: Sequence[str], card: Mapping[str, Any]
) -> list[CaseDraft]:
    """The top confused pairs and one case per probe (empty without data)."""
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
            "numbers": {"rate": (pair["a_as_b"] + pair["b_as_a"]) / 2, "a_as_b": pair["a_as_b"],
                        "b_as_a": pair["b_as_a"]},  # fmt: skip
        }
        clips = _misclassified(stats.test, "test", classes, [(ia, ib), (ib, ia)])
        drafts.append(CaseDraft(record, clips))
    probes = card.get("probes") if isinstance(card.get("probes"), Mapping) else {}
    for name, evaluation in stats.probes.items():
        a, b = PROBE_CLASSES.get(name, (None, None))
        if a not in classes or b not in classes:
            continue
        result = probes.get(name) or probe_record(name, evaluation, stats.test, classes)
        record = {
            "slug": failure_slug(["probe", name]),
            "kind": "probe",
            "probe": name,
            "title": PROBE_TITLES.get(name, f"Bias probe: {name}"),
            "classes": [a, b],
            "description": PROBE_DESCRIPTIONS.get(name, ""),
            "numbers": probe_numbers(result),
        }
        wrong = [(classes.index(c), None) for c in (a, b) if c in _probe_classes(evaluation, classes)]
        drafts.append(CaseDraft(record, _misclassified(evaluation, f"probe:{name}", classes, wrong)))
    return drafts


def probe_numbers(result: Mapping[str, Any]) -> dict[str, float]:
    """The numbers a probe page shows: probe and clean accuracy, and the card's summary numbers."""
    numbers: dict[str, float] = {}
    if _is_number(result.get("accuracy")):
        numbers["accuracy"] = float(result["accuracy"])
    per_class = result.get("per_class") or {}
    clips = sum(int(item.get("clips", 0)) for item in per_class.values())
    if clips:
        numbers["clean_accuracy"] = sum(item["clean_accuracy"] * item["clips"] for item in per_class.values()) / clips
    for key, value in result.items():
        if key not in ("accuracy", "per_class") and _is_number(value):
            numbers[key] = float(value)
    return numbers


def finish_case(draft: CaseDraft, media: Mapping[tuple[str, int], Mapping[str, str] | None]) -> dict[str, Any]:
    """The manifest record of a case, its clips with their media paths (None where media failed)."""
    clips = []
    for clip in draft.clips:
        paths = media.get((clip.split, clip.index)) or {}
        clips.append({
            "clip_index": clip.index, "true_class": clip.true_class, "predicted_class": clip.predicted_class,
            "composite": paths.get("composite"), "poster": paths.get("composite_poster"),
        })  # fmt: skip
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
        mask = (evaluation.labels == true) & (wrong if predicted is None else evaluation.predictions == predicted)
        pools.append([int(i) for i in np.flatnonzero(mask)])
    chosen: list[int] = []
    while len(chosen) < CLIPS_PER_CASE and any(pools):
        for pool in pools:
            if pool and len(chosen) < CLIPS_PER_CASE:
                chosen.append(pool.pop(0))
    return tuple(
        CaseClip(split, i, classes[int(evaluation.labels[i])], classes[int(evaluation.predictions[i])]) for i in chosen
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
