"""The data-driven measures of the committed default model against the paper's depth claims.

Selectivity and speed invariance are measured on real held-out clips of the synthetic world,
exactly as `atlas measure` does, so these tests check the model and the measuring code
together: deeper units should be more class-specific and more invariant to motion speed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generator.config import AtlasConfig
from generator.measures.selectivity import class_selectivity
from generator.pipeline.speed import speed_invariance
from generator.pipeline.statistics import DataStatistics, load_statistics
from generator.train import world_spec
from generator.world import SyntheticClips, render_clip, to_network_inputs
from generator.zoo import LoadedModel, load


@pytest.fixture(scope="module")
def measured(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[LoadedModel, AtlasConfig, DataStatistics, Path]:
    out = tmp_path_factory.mktemp("measures")
    base = AtlasConfig()
    config = base.model_copy(update={"data": base.data.model_copy(update={"cache_dir": out / "clips"})})
    loaded = load("default")
    stats = load_statistics(loaded, config, out, torch.device("cpu"), progress=False)
    assert stats is not None
    return loaded, config, stats, out


def _layer_means(values: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.nanmean(v)) for name, v in values.items() if np.isfinite(v).any()}


def test_mean_selectivity_rises_from_the_first_layers_to_the_class_outputs(measured) -> None:
    _, _, stats, _ = measured
    means = _layer_means({name: class_selectivity(item.class_means) for name, item in stats.layers.items()})
    first = [means["appearance/conv1_1"], means["motion/conv1_1"]]
    assert means["class"] > max(first) + 0.2, means
    assert means["head/fc7"] > max(first), means


def test_mean_speed_invariance_rises_from_the_motion_tower_to_the_class_outputs(measured) -> None:
    loaded, config, stats, out = measured
    means = _layer_means(speed_invariance(loaded, config, stats, out, torch.device("cpu"), progress=False))
    motion_tower = [value for name, value in means.items() if name.startswith("motion/conv")]
    # The first layer chi reaches (the appearance tower sees one still frame and has no score
    # of its own in the atlas) against the last; the fused layers sit above every motion layer.
    assert means["class"] > means["motion/conv1_1"] + 0.3, means
    assert min(means["fusion/conv4_fusion"], means["head/fc6"], means["head/fc7"]) > max(motion_tower), means


def test_replayed_clips_reproduce_the_dataset_responses(measured) -> None:
    """A clip replayed at its own speed must give the network what the dataset gave it: the flow
    goes through the same 8-bit coding (a -0.5 background offset changed the class of every
    ApplyEyeMakeup clip)."""
    loaded, config, stats, _ = measured
    spec = world_spec(config)
    test = SyntheticClips(
        spec, "test", config.data.test_clips_per_class, config.data.cache_dir, progress=False
    )
    picks = np.arange(0, len(test), len(test) // 24)
    replayed = [
        to_network_inputs(render_clip(test.clip_classes[i], int(test.seeds[i]), spec), spec) for i in picks
    ]
    inputs = [torch.from_numpy(np.stack(parts)) for parts in zip(*replayed)]
    with torch.inference_mode():
        predicted = loaded.model.eval()(*inputs).argmax(dim=1).numpy()
    np.testing.assert_array_equal(predicted, stats.test.predictions[picks])
