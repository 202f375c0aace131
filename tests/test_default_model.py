"""The committed default model: its card shows the planted behaviour, and the checkpoint backs the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.config import AtlasConfig
from generator.measures.classification import confused_pairs, confusion_matrix, evaluate, probe_record
from generator.train import card_path, synthetic_training_hash, world_spec
from generator.world import CLASSES, SyntheticClips
from generator.zoo import DEFAULT_CHECKPOINT, load

CARD = card_path(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text())


# Clips per class of the small sample on which the card's numbers are recomputed.
SAMPLE = 20


def test_card_numbers_hold_on_a_recomputed_sample(card: dict, tmp_path: Path) -> None:
    """The card's claims, measured again on the first SAMPLE clips per class of the test and probe
    sets (a subset of the card's own clips): the world's targets are met and the numbers agree
    with the card within what SAMPLE clips can resolve."""
    config = AtlasConfig.model_validate(card["config"])
    spec, model = world_spec(config), load("default").model
    test = evaluate(model, SyntheticClips(spec, "test", SAMPLE, tmp_path, progress=False))
    assert test.accuracy >= 0.85 and test.accuracy == pytest.approx(card["test_accuracy"], abs=0.1)
    pairs = confused_pairs(confusion_matrix(test, len(CLASSES)), CLASSES)
    assert (
        pairs[0]["classes"] == card["most_confused_pairs"][0]["classes"] == ["BrushingTeeth", "ShavingBeard"]
    )
    probes = {
        name: probe_record(
            name, evaluate(model, SyntheticClips(spec, f"probe:{name}", SAMPLE, tmp_path)), test, CLASSES
        )
        for name in ("eyemakeup_blink", "cello_violin_swap")
    }
    blink, swap = probes["eyemakeup_blink"], probes["cello_violin_swap"]
    assert blink["accuracy_drop_points"] >= 20.0 and blink["errors_to_ApplyLipstick"] > 0.5
    assert swap["flipped_fraction"] >= 0.5
    for name, key in (("eyemakeup_blink", "accuracy_drop_points"), ("cello_violin_swap", "flipped_fraction")):
        scale = 100.0 if key.endswith("points") else 1.0
        assert probes[name][key] == pytest.approx(card["probes"][name][key], abs=0.2 * scale)


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
    assert card["config_hash"] == synthetic_training_hash(AtlasConfig.model_validate(card["config"]))
    for key in ("config_hash", "code_hash"):
        assert len(card[key]) == 16
    assert len(card["data"]["hash"]) == 16
    assert card["data"]["tuning"], "the card says how the world was tuned"
    assert len(card["confusion_matrix"]) == len(card["classes"]) == 12
