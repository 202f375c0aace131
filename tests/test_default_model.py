"""The committed default model: its card shows the planted behaviour, and the checkpoint backs the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.config import AtlasConfig
from generator.train import card_path, evaluate, world_spec
from generator.world import SyntheticClips
from generator.zoo import DEFAULT_CHECKPOINT, load

CARD = card_path(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text())


def test_card_meets_the_synthetic_world_targets(card: dict) -> None:
    assert card["test_accuracy"] >= 0.90
    assert card["most_confused_pairs"][0]["classes"] == ["BrushingTeeth", "ShavingBeard"]
    blink = card["probes"]["eyemakeup_blink"]
    assert blink["accuracy_drop_points"] >= 20.0
    assert blink["errors_to_ApplyLipstick"] > 0.5
    assert card["probes"]["cello_violin_swap"]["flipped_fraction"] >= 0.5


def test_checkpoint_reproduces_the_cards_test_accuracy(card: dict, tmp_path: Path) -> None:
    config = AtlasConfig.model_validate(card["config"])
    loaded = load("default")
    assert loaded.description.classes == tuple(card["classes"])
    test = SyntheticClips(
        world_spec(config), "test", config.data.test_clips_per_class, tmp_path, progress=False
    )
    # One clip of slack: a borderline clip may flip under another CPU's float rounding.
    assert evaluate(loaded.model, test).accuracy == pytest.approx(card["test_accuracy"], abs=1.5 / len(test))


def test_card_records_how_the_model_was_made(card: dict) -> None:
    assert card["command"].startswith("atlas train")
    assert card["config"]["train"]["seed"] == AtlasConfig.model_validate(card["config"]).train.seed
    for key in ("config_hash", "code_hash"):
        assert len(card[key]) == 16
    assert len(card["data"]["hash"]) == 16
    assert card["data"]["tuning"], "the card says how the world was tuned"
    assert len(card["confusion_matrix"]) == len(card["classes"]) == 12
