"""Measures against known truths: hand-made class means and a phantom network on planted data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from generator.measures.activations import collect_activations, measure_share, merge_shares
from generator.measures.selectivity import class_selectivity, dead_on_data, dead_units, preferred_class
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription


def test_selectivity_of_known_profiles() -> None:
    means = np.array(
        [
            [1.0, 1.0, 0.0, 3.0],
            [0.0, 1.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 1.0],
        ]
    )
    si = class_selectivity(means)
    assert si[0] == pytest.approx(1.0)  # only one class drives it
    assert si[1] == pytest.approx(0.0)  # every class alike
    assert np.isnan(si[2])  # dead
    assert si[3] == pytest.approx((3 - 1) / (3 + 1))
    assert dead_units(means).tolist() == [False, False, True, False]
    assert preferred_class(means)[[0, 3]].tolist() == [0, 0]


class _ChannelMeans(nn.Module):
    """A phantom network: conv unit c = input channel c; fc unit c = its spatial mean."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Identity()
        self.fc = nn.Identity()

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = video.shape
        frames = self.conv(video.transpose(1, 2).reshape(b * t, c, h, w))
        return self.fc(frames.reshape(b, t, c, h, w).mean(dim=(1, 3, 4)))


def _phantom_description() -> ModelDescription:
    """What _ChannelMeans is: a 3-channel conv layer, its channel means (fc) and 3 class outputs."""
    classes = ("a", "b", "c")
    layers = (
        LayerInfo("conv", "conv", "conv2d", 3, 1, 1, 1, ("video",)),
        LayerInfo("fc", "fc", "fc", 3, 1, 4, 2, ("video",)),
        LayerInfo("class", "fc", "class", 3, 1, 4, 3, ("video",), classes),
    )
    return ModelDescription("phantom", (InputSpec("video", "rgb", 3, 2, 4, 4),), layers, classes)


def test_collect_activations_recovers_planted_class_units() -> None:
    description = _phantom_description()
    labels = np.repeat(np.arange(3), 4)
    gen = torch.Generator().manual_seed(0)
    video = 0.01 * torch.rand(12, 3, 2, 4, 4, generator=gen)
    strength = torch.arange(1, 13, dtype=torch.float32)
    for i, label in enumerate(labels):
        video[i, label] += strength[i]  # class c lights channel c, more for later clips
    data = TensorDataset(video, torch.as_tensor(labels))
    stats = collect_activations(
        _ChannelMeans(), description, data, ["conv", "fc", "class"], top_k=2, batch_size=5
    )

    for name in ("conv", "fc"):
        si = class_selectivity(stats[name].class_means)
        assert np.all(si > 0.99)
        assert preferred_class(stats[name].class_means).tolist() == [0, 1, 2]
        # Strongest clips of unit c are the last two clips of class c.
        assert stats[name].top_clips.tolist() == [[3, 2], [7, 6], [11, 10]]
    assert stats["conv"].peaks == pytest.approx(video.amax(dim=(0, 2, 3, 4)).numpy())
    assert stats["class"].class_means.sum(axis=1) == pytest.approx(np.ones(3))


def test_shares_measured_apart_merge_into_the_whole_pass() -> None:
    """Three disjoint shares of the clips, each in its own order, measured apart and merged in yet
    another order, give what one pass over every clip gives: same maxima, same top clips (ties to
    the lower clip index), the same class means and per-clip rows, predictions in clip order."""
    description = _phantom_description()
    labels = np.array([0, 1, 2, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2])
    gen = torch.Generator().manual_seed(1)
    # whole numbers: means are exact in any summation order, so equal clips tie exactly
    video = torch.randint(0, 9, (len(labels), 3, 2, 4, 4), generator=gen).float()
    video[5] += 1.0  # clips 2, 5, 9 and 12 answer alike, the strongest: the top 3 must be the lower 3
    video[[2, 9, 12]] = video[5].clone()
    data = TensorDataset(video, torch.as_tensor(labels))
    names = ["conv", "fc", "class"]
    whole = collect_activations(_ChannelMeans(), description, data, names, top_k=3, batch_size=4)
    shares = [[11, 0, 5, 7], [3, 12, 1], [9, 2, 4, 6, 8, 10]]
    parts = [
        measure_share(
            _ChannelMeans(), description, data, share, names, 3, top_k=3, predict=True, batch_size=2
        )
        for share in shares
    ]
    assert [p.forwarded for p in parts] == [4, 3, 6]
    merged, predictions = merge_shares([parts[2], parts[0], parts[1]], top_k=3)
    assert merged["conv"].top_clips.tolist() == [[2, 5, 9]] * 3
    assert predictions.tolist() == video.mean(dim=(2, 3, 4)).argmax(dim=1).tolist()
    assert (merged["conv"].top_values[:, 0] == video.amax(dim=(0, 2, 3, 4)).numpy()).all()
    for name in names:
        one, many = whole[name], merged[name]
        assert np.array_equal(many.top_clips, one.top_clips) and np.array_equal(
            many.top_values, one.top_values
        )
        assert np.array_equal(many.peaks, one.peaks) and np.array_equal(many.mean_peaks, one.mean_peaks)
        assert np.array_equal(many.clip_means, one.clip_means)
        assert np.allclose(many.class_means, one.class_means, rtol=1e-12, atol=0)
    # a share with no clips (more ranks than clips) changes nothing
    empty = measure_share(_ChannelMeans(), description, data, [], names, 3, top_k=3, predict=True)
    again, _ = merge_shares([empty, *parts], top_k=3)
    assert all(np.array_equal(again[n].top_clips, merged[n].top_clips) for n in names)


def test_rho_is_the_data_maximum_of_the_rectified_objective() -> None:
    """Unit 0 never responds (always negative); unit 1 is +a on one half of the frame and -3a on
    the other, so its pre-ReLU mean is negative while its rectified mean is a / 2."""
    classes = ("a", "b")
    inputs = (InputSpec("video", "rgb", 2, 1, 4, 4),)
    layers = (
        LayerInfo("fusion", "conv", "conv2d", 2, 1, 1, 1, ("video", "other")),
        LayerInfo("fc", "fc", "fc", 2, 1, 4, 2, ("video",)),
    )
    description = ModelDescription("phantom", inputs, layers, classes)
    labels = np.array([0, 0, 1, 1])
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    video = torch.full((4, 2, 1, 4, 4), -5.0)
    video[:, 1, :, :, :2] = a.view(4, 1, 1, 1)
    video[:, 1, :, :, 2:] = -3 * a.view(4, 1, 1, 1)
    video[0, 1, 0, 0, 0] = 40.0  # clip 0: the largest single value, the smallest mean
    data = TensorDataset(video, torch.as_tensor(labels))
    stats = collect_activations(_ChannelMeans(), description, data, ["fusion", "fc"], top_k=2, batch_size=3)

    conv = stats["fusion"]
    rectified_means = video.clamp(min=0).mean(dim=(2, 3, 4))  # (clips, units)
    assert conv.mean_peaks == pytest.approx(rectified_means.amax(dim=0).numpy())  # the fusion (mean) rho
    assert conv.mean_peaks[1] == pytest.approx((7 * 1.0 + 40.0) / 16) and conv.mean_peaks[0] == 0.0
    assert conv.peaks.tolist() == [0.0, 40.0]  # spatial maximum: rectified, never negative
    assert np.all(conv.class_means <= conv.mean_peaks + 1e-6)  # no class mean above rho
    # Top clips are ranked by the rectified response's spatial maximum, and carry it.
    assert conv.top_clips[1].tolist() == [0, 3] and conv.top_values[1].tolist() == [40.0, 4.0]
    # fc (the phantom's fc unit is the channel's pre-ReLU mean): its rectified value, 0 for unit 0
    assert stats["fc"].peaks.tolist() == [0.0, pytest.approx(23 / 16)]
    assert dead_on_data(conv.mean_peaks).tolist() == [True, False]


def test_dead_units_are_negligible_against_their_layer() -> None:
    rho = np.array([10.0, 12.0, 0.03, 0.2, 9.0, 11.0, float("nan"), -1.0])  # median 4.6 (nan, -1 count as 0)
    assert dead_on_data(rho).tolist() == [False, False, True, False, False, False, True, True]
    assert dead_on_data(np.zeros(3)).tolist() == [True, True, True]


def test_chi_reaches_only_units_fed_by_a_temporal_input() -> None:
    from generator.measures.invariance import chi_reaches
    from generator.zoo.fusion import small_fusion

    desc = small_fusion().describe()
    reached = {name: chi_reaches(desc.inputs, desc.layer(name).streams) for name in desc.layer_names}
    assert not reached["appearance/conv1_1"] and not reached["appearance/conv4_1"]
    assert reached["motion/conv1_1"] and reached["fusion/conv4_fusion"] and reached["class"]
    still = InputSpec("rgb", "rgb", 3, 1, 32, 32)
    clip = InputSpec("rgb", "rgb", 3, 16, 32, 32)
    assert not chi_reaches([still], ())
    assert chi_reaches([clip], ())
    two = [InputSpec("still", "rgb", 3, 1, 32, 32), InputSpec("clip", "rgb", 3, 16, 32, 32)]
    assert not chi_reaches(two, ("still",))
    assert chi_reaches(two, ("still", "clip"))
