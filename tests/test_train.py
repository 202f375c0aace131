"""Training stays honest: a tiny model learns, is reproducible, and its card matches its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.config import load_config
from generator.measures.classification import (
    Evaluation,
    confused_pairs,
    confusion_matrix,
    evaluate,
    per_class_accuracy,
    probe_records,
)
from generator.train import card_path, train_default, world_spec
from generator.world import CLASSES, SyntheticClips
from generator.zoo import load


def tiny_config(tmp_path: Path, name: str = "tiny.pt", cache: Path | None = None):
    return load_config(
        None,
        {
            "data.size": 32,
            "data.flow_fields": 2,
            "data.snippets": 1,
            "data.snippet_gap": 1,
            "data.train_clips_per_class": 4,
            "data.val_clips_per_class": 2,
            "data.test_clips_per_class": 2,
            "data.probe_clips_per_class": 2,
            "data.cache_dir": str(cache or tmp_path / "cache"),
            "train.architecture.widths": [4, 8],
            "train.architecture.fc": 8,
            "train.epochs": 4,
            "train.batch_size": 8,
            "train.learning_rate": 0.01,
            "train.checkpoint": str(tmp_path / name),
        },
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("train")
    config = tiny_config(tmp)
    card = train_default(config, command="atlas train --test", progress=False, log=lambda _: None)
    return config, card


def test_training_lowers_the_loss_and_writes_a_complete_card(trained) -> None:
    config, card = trained
    losses = [h["train_loss"] for h in card["history"]]
    assert losses[-1] < losses[0] < np.log(len(CLASSES)) + 0.5
    on_disk = json.loads(card_path(config.train.checkpoint).read_text())
    assert on_disk == json.loads(json.dumps(card))
    matrix = np.array(card["confusion_matrix"])
    assert matrix.shape == (12, 12) and matrix.sum() == 12 * config.data.test_clips_per_class
    assert card["test_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert set(card["probes"]) == {"eyemakeup_blink", "cello_violin_swap"}
    assert "accuracy_drop_points" in card["probes"]["eyemakeup_blink"]
    assert 0.0 <= card["probes"]["cello_violin_swap"]["flipped_fraction"] <= 1.0
    assert card["command"] == "atlas train --test"
    assert card["config"]["train"]["epochs"] == 4
    assert len(card["code_hash"]) == 16 and len(card["data"]["hash"]) == 16


def test_checkpoint_reloads_to_the_same_predictions(trained) -> None:
    config, card = trained
    loaded = load("small_fusion", Path(config.train.checkpoint))
    test = SyntheticClips(world_spec(config), "test", config.data.test_clips_per_class, config.data.cache_dir)
    assert evaluate(loaded.model, test).accuracy == pytest.approx(card["test_accuracy"])
    assert [layer.name for layer in loaded.description.layers][-1] == "class"


def test_training_is_reproducible_from_its_seed(trained, tmp_path: Path) -> None:
    config, _ = trained
    again = tiny_config(tmp_path, "again.pt", cache=Path(config.data.cache_dir))
    train_default(again, progress=False, log=lambda _: None)
    first = load("small_fusion", Path(config.train.checkpoint))
    second = load("small_fusion", Path(again.train.checkpoint))
    assert first.model_hash == second.model_hash
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_confusion_bookkeeping_on_a_known_case() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 1, 0, 1, 2, 2])
    evaluation = Evaluation(labels=labels, predictions=predictions)
    matrix = confusion_matrix(evaluation, 3)
    assert matrix.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 2]]
    top = confused_pairs(matrix, ("a", "b", "c"))[0]
    assert top["classes"] == ["a", "b"] and top["rate"] == pytest.approx(1.0)


def test_per_class_accuracy_and_probe_records_on_a_known_case() -> None:
    # Class 0: 2 of 3 right; class 1: 1 of 1; class 2 has no clip, so no accuracy (not 0).
    evaluation = Evaluation(labels=np.array([0, 0, 0, 1]), predictions=np.array([0, 0, 1, 1]))
    matrix = confusion_matrix(evaluation, 3)
    assert per_class_accuracy(matrix, ("a", "b", "c")) == {"a": pytest.approx(2 / 3), "b": 1.0, "c": None}
    # A probe that sends every class-0 clip to class 1: its record says so beside the clean accuracy.
    probe = Evaluation(labels=np.array([0, 0]), predictions=np.array([1, 1]))
    records = probe_records({"swap": probe}, evaluation, ("a", "b", "c"))
    assert records["swap"]["accuracy"] == 0.0
    item = records["swap"]["per_class"]["a"]
    assert item["clean_accuracy"] == pytest.approx(2 / 3) and item["predicted_as"] == {"b": 2}
    assert item["top_wrong_class"] == "b"


def test_the_train_report_reads_its_numbers_from_the_card(trained) -> None:
    """``atlas train`` prints the card's accuracy and its most confused pair (recomputed here from
    the confusion matrix, not read back from the printed line's source)."""
    from generator.pipeline.reports import trained_lines

    _, card = trained
    matrix = np.array(card["confusion_matrix"], dtype=float)
    rates = matrix / matrix.sum(axis=1, keepdims=True).clip(min=1)
    both = rates + rates.T
    np.fill_diagonal(both, -1)
    a, b = np.unravel_index(both.argmax(), both.shape)
    (line,) = trained_lines(card)
    assert f"{100 * np.trace(matrix) / matrix.sum():.1f} %" in line
    assert {CLASSES[a], CLASSES[b]} == set(line.split("most confused pair ")[1].split(" (")[0].split(" / "))
