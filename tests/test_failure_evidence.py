"""Evidence of failure cases and stream reliance, on hand-made answers whose counts are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator.measures.classification import Evaluation
from generator.pipeline.evidence import conclusions, confusion_table, cue_sentence, cue_verdict, flip_row
from generator.pipeline.failures import case_evidence
from generator.pipeline.interventions import InterventionAnswers, twin_indices
from generator.pipeline.statistics import DataStatistics
from generator.pipeline.tables_stage import class_rows
from generator.site.stats import reliance_sentence
from generator.world.interventions import INTERVENTIONS, frames_frozen, time_reversed
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

CLASSES = ("A", "B", "C")


def test_flip_row_counts_changes_answers_to_the_other_class_and_accuracy() -> None:
    labels = np.array([0, 0, 1, 1])
    before = np.array([0, 0, 1, 2])  # accuracy 3/4
    after = np.array([1, 0, 0, 2])  # clip 0 -> B (other), clip 2 -> A (other), clip 3 unchanged
    row = flip_row("flow_only", labels, before, after, {0: 1, 1: 0})
    assert (row["clips"], row["flips"], row["to_other"]) == (4, 2, 2)
    assert row["to_other_before"] == 0  # before it every answer was its own class or C
    undone = flip_row("flow_only", labels, after, before, {0: 1, 1: 0})  # the edit undone
    assert (undone["flips"], undone["to_other"], undone["to_other_before"]) == (2, 0, 2)
    assert row["accuracy_before"] == pytest.approx(0.75) and row["accuracy_after"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("flow", "appearance", "cue"),
    [
        (10, 0, "motion"),
        (0, 9, "appearance"),
        (6, 5, "both"),
        (2, 1, "neither"),
        (5, 3, "both"),
        (4, 1, "motion"),
    ],
)
def test_cue_verdict_names_the_stream_whose_probe_moves_the_model(
    flow: int, appearance: int, cue: str
) -> None:
    rows = [
        {"name": "flow_only", "clips": 10, "to_other": flow},
        {"name": "appearance_only", "clips": 10, "to_other": appearance},
    ]
    assert cue_verdict(rows) == cue
    assert cue_verdict(rows[:1]) is None


def test_probe_confusion_counts_the_probe_answers() -> None:
    table = confusion_table(np.array([0, 0, 1]), np.array([1, 2, 0]), CLASSES, ("A", "B"))
    assert table["rows"] == ["A", "B"] and table["columns"] == ["A", "B", "C"]
    assert table["counts"] == {"A": {"A": 0, "B": 1, "C": 1}, "B": {"A": 1, "B": 0, "C": 0}}


def _stats() -> DataStatistics:
    # Two clips each of A, B, C; the model is right on all but one C clip.
    labels = np.array([0, 0, 1, 1, 2, 2])
    test = Evaluation(labels, np.array([0, 0, 1, 1, 2, 0]))
    probe = Evaluation(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 1]))
    return DataStatistics(layers={}, test=test, probes={"swap": probe}, key="k")


def _answers() -> InterventionAnswers:
    test = {name: np.array([0, 0, 1, 1, 2, 0]) for name in INTERVENTIONS}
    test["motion_zeroed"] = np.array([1, 1, 0, 1, 2, 2])  # A and B lose 3 of 4 answers, 3 to the other class
    test["time_reversed"] = np.array([1, 0, 1, 0, 2, 0])  # 2 of 4 change, both to the other class
    probes = {"swap": {"flow_only": np.array([1, 1, 0, 0]), "appearance_only": np.array([0, 0, 1, 1])}}
    return InterventionAnswers(test=test, probes=probes, twins={"swap": np.array([0, 1, 2, 3])})


def test_case_evidence_is_built_from_the_answers_only() -> None:
    means = {"u/0001": {"probe": 2.0, "ordinary": 4.0}}
    evidence = case_evidence(
        _stats(),
        CLASSES,
        ("A", "B"),
        _answers(),
        "swap",
        ["u/0001"],
        lambda probe, twins, ids: {u: means[u] for u in ids},
    )
    rows = {r["name"]: r for r in evidence["interventions"]}
    assert [r["name"] for r in evidence["interventions"]] == [
        "probe",
        "appearance_only",
        "flow_only",
        *INTERVENTIONS,
    ]
    assert (
        rows["probe"]["to_other"],
        rows["flow_only"]["to_other"],
        rows["appearance_only"]["to_other"],
    ) == (3, 4, 0)
    assert (rows["motion_zeroed"]["clips"], rows["motion_zeroed"]["flips"]) == (4, 3)
    assert rows["appearance_zeroed"]["flips"] == 0
    assert evidence["cue"] == "motion" and evidence["units"] == [
        {"unit_id": "u/0001", "probe": 2.0, "ordinary": 4.0}
    ]
    text = " ".join(evidence["conclusions"])
    assert "4 of 4 (100 %)" in text and "0 of 4 (0 %)" in text and "0.50x" in text
    assert "rely more on the motion stream" in text
    assert (
        "Reversing time changes 2 of 4 (50 %) answers; after it 2 of 4 (50 %) name the other class of the "
        "pair, against 0 before." in text
    )
    assert evidence["cue_sentence"] == cue_sentence(evidence, "swap")
    # Without a probe there is no verdict on a cue, only the edits of the ordinary clips.
    pair = case_evidence(_stats(), CLASSES, ("A", "B"), _answers(), None, [], None)
    assert "cue" not in pair and len(pair["interventions"]) == len(INTERVENTIONS)
    assert not any("keys on" in sentence for sentence in conclusions(pair, ("A", "B"), None))


def test_stream_reliance_is_accuracy_on_the_same_clips_with_a_stream_removed() -> None:
    desc = ModelDescription(
        "m",
        (InputSpec("appearance", "rgb", 3, 1, 8, 8),),
        (LayerInfo("class", "fc", "class", 3, 1, 8, 1, ("appearance",), CLASSES),),
        CLASSES,
    )
    rows = {r["class_name"]: r for r in class_rows(desc, _stats(), _answers())}
    assert rows["A"]["accuracy"] == 1.0 and rows["A"]["accuracy_motion_zeroed"] == 0.0
    assert rows["B"]["accuracy_motion_zeroed"] == 0.5 and rows["C"]["accuracy_motion_zeroed"] == 1.0
    assert rows["C"]["accuracy"] == 0.5 and rows["C"]["accuracy_appearance_zeroed"] == 0.5
    assert "relies more on the motion stream" in reliance_sentence(rows["A"])
    assert "keeps its accuracy without either" in reliance_sentence(
        rows["C"]
    ) and "(+50 points)" in reliance_sentence(rows["C"])
    assert "accuracy_motion_zeroed" not in class_rows(desc, _stats())[0]


def test_twins_are_the_test_clips_of_the_same_seed() -> None:
    assert twin_indices(np.array([7, 3, 9]), np.array([3, 5, 7])).tolist() == [2, 0, -1]


def test_time_reversal_reverses_snippets_and_fields_and_negates_them() -> None:
    appearance = torch.arange(2.0).reshape(1, 1, 2, 1, 1).expand(1, 3, 2, 2, 2)
    fields = torch.tensor([1.0, -1.0, 2.0, -2.0]).reshape(1, 4, 1, 1, 1)  # L = 2: (u1, v1, u2, v2)
    motion = torch.cat([fields, 10 * fields], dim=2).expand(1, 4, 2, 2, 2)  # snippet 1 moves 10x faster
    a, m = time_reversed(appearance, motion)
    assert a[0, 0, :, 0, 0].tolist() == [1.0, 0.0]
    assert m[0, :, 0, 0, 0].tolist() == [
        -20.0,
        20.0,
        -10.0,
        10.0,
    ]  # snippet 1 first, its fields reversed, negated
    assert m[0, :, 1, 0, 0].tolist() == [-2.0, 2.0, -1.0, 1.0]
    assert torch.equal(time_reversed(*time_reversed(appearance, motion))[1], motion)
    frozen_a, frozen_m = frames_frozen(appearance, motion)
    assert frozen_a[0, 0, :, 0, 0].tolist() == [0.0, 0.0] and not frozen_m.any()
    assert motion[0, 0, 0, 0, 0] == 1.0  # the arguments are unchanged
