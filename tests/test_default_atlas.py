"""The engine on the committed default model, checked against what the synthetic world planted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.transforms.functional import gaussian_blur

from generator.config import AtlasConfig
from generator.engine import EngineSettings, visualize_layer
from generator.pipeline.visualize import engine_settings
from generator.train import world_spec
from generator.world import CLASSES, SyntheticClips, decode_flow
from generator.zoo import load

STEPS = 150
DOMINANT = 1.2  # how much more flow the planted axis must carry than the other


@pytest.fixture(scope="module")
def model():
    return load("default")


@pytest.fixture(scope="module")
def class_results(model):
    """Every class output visualised at the middle default chi, with the atlas's settings (fewer steps)."""
    settings = dataclasses.replace(engine_settings(AtlasConfig().visualize), steps=STEPS)
    results = visualize_layer(model.model, model.description, "class", range(len(CLASSES)), [10.0], [0], settings, "cpu")
    return {CLASSES[r.unit]: r for r in results}


def _flow(result) -> tuple[np.ndarray, np.ndarray]:
    flow = decode_flow(result.inputs["motion"])
    return flow[0::2], flow[1::2]


def test_class_scores_rise_far_above_real_clips_of_other_classes(model, class_results, tmp_path) -> None:
    config = AtlasConfig()
    clips = SyntheticClips(world_spec(config), "test", 5, tmp_path, progress=False)
    with torch.inference_mode():
        scores = torch.cat([model.model(a, m) for a, m, _ in DataLoader(clips, batch_size=30)]).numpy()
    for name, result in class_results.items():
        index = CLASSES.index(name)
        others = scores[clips.labels != index, index]
        assert result.ok
        assert result.activation > others.max() + 3 * others.std(), name


@pytest.mark.parametrize(
    ("name", "axis"),
    [("JumpingJack", "v"), ("ShavingBeard", "v"), ("WalkingWithDog", "u"), ("BrushingTeeth", "u")],
)
def test_class_visualisations_carry_the_planted_flow_direction(class_results, name: str, axis: str) -> None:
    """The planted direction dominates by a clear margin (1.3-1.4x measured with the atlas's flow
    variation weight; 1.1-1.2x with the paper's, whose flow is pixel-level speckle)."""
    u, v = _flow(class_results[name])
    horizontal, vertical = np.abs(u).mean(), np.abs(v).mean()
    planted, other = (vertical, horizontal) if axis == "v" else (horizontal, vertical)
    assert planted > DOMINANT * other, (horizontal, vertical)


def _vertical_structure(appearance: np.ndarray, sigma: float = 2.0) -> float:
    """Energy of horizontal over vertical luminance gradients: > 1 when vertical edges (vertical
    structure) dominate. Blurred first, so pixel-level texture does not count as structure."""
    radius = int(3 * sigma)
    mean = torch.from_numpy(np.ascontiguousarray(appearance.mean(axis=(0, 1))))[None, None]
    luminance = gaussian_blur(mean, [2 * radius + 1] * 2, [sigma, sigma])[0, 0].numpy()
    return float(np.square(np.diff(luminance, axis=1)).mean() / np.square(np.diff(luminance, axis=0)).mean())


@pytest.mark.xfail(
    strict=True,
    reason="The default model tells PlayingCello from PlayingViolin by the bow's stroke direction in the "
    "flow; the appearance of every class visualisation is dominated by horizontal bands (0.24-0.67 "
    "at this scale, cello 0.35, violin 0.26). See the model card's probes and the site's failure page.",
)
def test_cello_and_violin_appearance_carry_the_planted_alignment(class_results) -> None:
    cello = _vertical_structure(class_results["PlayingCello"].inputs["appearance"])
    violin = _vertical_structure(class_results["PlayingViolin"].inputs["appearance"])
    assert cello > 1.0 > violin, (cello, violin)


def test_temporal_variation_falls_with_chi_for_most_units(model) -> None:
    settings = EngineSettings(steps=60)
    chis = [1.0, 10.0, 100.0]
    falling = total = 0
    for layer in ("motion/conv2_1", "fusion/conv4_fusion", "head/fc7", "class"):
        results = visualize_layer(model.model, model.description, layer, range(3), chis, [0], settings, "cpu")
        for unit in range(3):
            tv = [r.terms["temporal_variation/motion"] for r in results if r.unit == unit]
            falling += all(b < a for a, b in zip(tv, tv[1:]))
            total += 1
    assert falling / total >= 0.8


def test_class_outputs_are_not_stalled_at_a_large_chi(model) -> None:
    """Steady flow suffices for the default model's class decisions, so a class output driven at
    chi = 1e4 should keep most of what it reaches at chi = 1. The atlas's temporal DCT basis
    does; the paper's pixel basis, whose steps the chi term throttles, falls far behind."""
    kept = {}
    for basis in ("dct", "pixel"):
        settings = dataclasses.replace(engine_settings(AtlasConfig().visualize), steps=STEPS, temporal_basis=basis)
        results = visualize_layer(model.model, model.description, "class", range(len(CLASSES)), [1.0, 1e4], [0],
                                  settings, "cpu")  # fmt: skip
        reached: dict[int, dict[float, float]] = {}
        for r in results:
            reached.setdefault(r.unit, {})[r.chi] = r.activation
        kept[basis] = float(np.mean([max(v[1e4], 0.0) / v[1.0] for v in reached.values()]))
    assert AtlasConfig().visualize.temporal_basis == "dct"
    assert kept["dct"] >= 0.7, kept
    assert kept["dct"] > kept["pixel"] + 0.15, kept
