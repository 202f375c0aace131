"""Where a unit fires in a clip (generator.measures.response_map) and its heat-map overlay
(generator.media.heatmap), on small networks whose units respond to a bright patch planted at
a known place in each frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from generator.measures.response_map import (
    frame_positions,
    layer_response_maps,
    maps_at_frames,
    response_map,
    upsample_map,
)
from generator.media import read_mp4
from generator.media.heatmap import legend_bar, normalize, overlay_frames, write_overlay
from generator.zoo.spec import LayerInfo

FRAMES, SIZE, PATCH = 4, 32, 6


def _patch_at(t: int) -> tuple[int, int]:
    """Top-left corner of the bright patch in frame ``t``: it moves down and left."""
    return 3 + 6 * t, 22 - 5 * t


def _clip() -> torch.Tensor:
    """(1, 3, T, H, W) in network units: a dark-grey background (-0.5) and the bright patch (+1)."""
    clip = torch.full((1, 3, FRAMES, SIZE, SIZE), -0.5)
    for t in range(FRAMES):
        y, x = _patch_at(t)
        clip[0, :, t, y : y + PATCH, x : x + PATCH] = 1.0
    return clip


def _detector(conv: nn.Module) -> None:
    """Unit 1 sums brightness over its window (fires on the patch); unit 0 fires on darkness."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[1].fill_(1.0)
        conv.weight[0].fill_(-1.0)
        conv.bias.zero_()


class Tower(nn.Module):
    """A 2-D convolution applied to every frame (snippets folded into the batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.head = nn.Linear(2, 3)
        _detector(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        return self.head(torch.relu(self.conv(frames)).mean(dim=(2, 3)))


class Strided3d(nn.Module):
    """A 3-D convolution with spatial stride 2: its map is half the frame's size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 2, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        _detector(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3, 4))


def _layer(kind: str, units: int = 2, module: str = "conv") -> LayerInfo:
    return LayerInfo(
        name=f"phantom/{kind}",
        module=module,
        kind=kind,
        units=units,
        stride=2 if kind == "conv3d" else 1,
        receptive_field=3,
        depth=1,
        streams=("appearance",),
    )


def _inside_patch(t: int, y: int, x: int, margin: int = 1) -> bool:
    top, left = _patch_at(t)
    return top - margin <= y < top + PATCH + margin and left - margin <= x < left + PATCH + margin


@pytest.mark.parametrize("model, kind", [(Tower, "conv2d"), (Strided3d, "conv3d")])
def test_the_hottest_place_of_each_frame_is_the_planted_patch(model: type, kind: str) -> None:
    net = model().eval()
    maps = response_map(net, _layer(kind), 1, [_clip()])
    assert maps is not None and maps.shape[0] == FRAMES
    heat = upsample_map(maps, FRAMES, SIZE, SIZE)
    assert heat.shape == (FRAMES, SIZE, SIZE)
    for t in range(FRAMES):
        y, x = np.unravel_index(np.argmax(heat[t]), heat[t].shape)
        assert _inside_patch(t, int(y), int(x)), (kind, t, (y, x), _patch_at(t))
        top, left = _patch_at(t)
        centre = heat[t, top + PATCH // 2, left + PATCH // 2]
        assert centre > 0.5 * heat[t].max()  # the patch is hot, not only its edge
        far = heat[t, (top + SIZE // 2) % SIZE, (left + SIZE // 2) % SIZE]
        assert far == pytest.approx(0.0, abs=1e-6)  # rectified: silent on the background
    # The other unit of the layer fires on the dark background, never on the patch.
    dark = upsample_map(response_map(net, _layer(kind), 0, [_clip()]), FRAMES, SIZE, SIZE)
    for t in range(FRAMES):
        top, left = _patch_at(t)
        assert dark[t, top + PATCH // 2, left + PATCH // 2] == pytest.approx(0.0, abs=1e-6)
        assert dark[t].max() > 0


def test_units_without_positions_have_no_map_and_wrong_units_are_refused() -> None:
    net = Tower().eval()
    assert response_map(net, _layer("fc", 3, "head"), 0, [_clip()]) is None
    with pytest.raises(ValueError, match="not a unit"):
        response_map(net, _layer("conv2d"), 2, [_clip()])


def test_overlay_colours_the_patch_and_leaves_the_background(tmp_path) -> None:
    net = Tower().eval()
    heat = upsample_map(response_map(net, _layer("conv2d"), 1, [_clip()]), FRAMES, SIZE, SIZE)
    frames = np.full((FRAMES, SIZE, SIZE, 3), 60, dtype=np.uint8)
    drawn = overlay_frames(frames, heat, 0.0, float(heat.max()))
    change = np.abs(drawn.astype(int) - frames.astype(int)).sum(axis=-1)
    for t in range(FRAMES):
        y, x = np.unravel_index(np.argmax(change[t]), change[t].shape)
        assert _inside_patch(t, int(y), int(x))
        top, left = _patch_at(t)
        assert change[t, (top + SIZE // 2) % SIZE, (left + SIZE // 2) % SIZE] == 0  # transparent where silent
    # One scale for all of a unit's clips: a range twice as wide draws the same response paler.
    paler = overlay_frames(frames, heat, 0.0, 2 * float(heat.max()))
    assert np.abs(paler.astype(int) - frames.astype(int)).sum() < change.sum()
    assert normalize(heat, 1.0, 1.0).max() == 0.0  # an empty range draws nothing
    bar = legend_bar(64, 4)
    assert bar.shape == (4, 64, 3) and bar[0, -1].sum() > bar[0, 0].sum()
    video, poster = write_overlay(
        np.repeat(np.repeat(drawn, 4, 1), 4, 2),
        np.repeat(np.repeat(heat, 4, 1), 4, 2),
        0.0,
        1.0,
        tmp_path / "where.mp4",
        tmp_path / "where.png",
    )
    played, _ = read_mp4(video)
    assert played.shape[1:] == (SIZE * 4, SIZE * 4, 3) and poster.is_file()


def test_map_steps_land_on_their_snippets_frames_and_blend_linearly_between() -> None:
    # Snippets start at frames 0, 4, 8: a tower's steps stand at those frames; a 3-D layer with a
    # temporal stride of 3 has one step, at the centre of the snippets it covers (frame 4).
    assert frame_positions(3, (0, 4, 8)).tolist() == [0.0, 4.0, 8.0]
    assert frame_positions(1, (0, 4, 8)).tolist() == [4.0]
    assert frame_positions(2, (0, 2, 4, 6)).tolist() == [1.0, 5.0]
    maps = np.stack([np.full((2, 2), v, dtype=np.float32) for v in (0.0, 4.0, 8.0)])
    frames = maps_at_frames(maps, frame_positions(3, (0, 4, 8)), 11)
    assert frames.shape == (11, 2, 2)
    assert frames[:, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8]  # held after the last snippet
    one = maps_at_frames(maps[1:2], frame_positions(1, (0, 4, 8)), 5)
    assert np.all(one == 4.0)
    with pytest.raises(ValueError, match="time steps"):
        maps_at_frames(maps, np.array([0.0, 1.0]), 4)


def test_one_forward_gives_every_units_map_of_the_layer() -> None:
    net = Tower().eval()
    every = layer_response_maps(net, _layer("conv2d"), [_clip()])
    assert every is not None and every.shape == (2, FRAMES, SIZE, SIZE)
    for channel in range(2):
        assert np.array_equal(every[channel], response_map(net, _layer("conv2d"), channel, [_clip()]))
    assert layer_response_maps(net, _layer("fc", 3, "head"), [_clip()]) is None
