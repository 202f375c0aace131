"""Where a unit fires in a clip: its rectified response over time and space, at the clip's frames.

A convolutional unit's response to a clip is a map over positions (and, for a 3-D
convolution or a tower that folds snippets into its batch, over time): the layer's output
channel of that unit, after the activation that follows the layer (the rectified response
that the measures and the engine's objective use). :func:`response_map` measures it with one
forward pass cut at the layer; :func:`upsample_map` brings it to the clip's frame grid
(trilinear, cell centres on the centres of the input regions they summarise), so that it can
be drawn over the clip's frames (:mod:`generator.media.heatmap`). An fc or class unit has no
positions, so it has no map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from generator.zoo.capture import StopForward, recording
from generator.zoo.spec import LayerInfo

SPATIAL_KINDS = ("conv2d", "conv3d")


def response_map(
    model: torch.nn.Module,
    layer: LayerInfo,
    channel: int,
    inputs: Sequence[Tensor],
    forward: Callable[..., Tensor] | None = None,
) -> np.ndarray | None:
    """The rectified response of unit ``channel`` of ``layer`` to one clip, shaped (time,
    height, width) on the layer's own grid; None for a layer without positions.

    ``inputs``: the clip's network inputs, each (1, channels, frames, height, width).
    ``forward``: how to run the model (default: ``model(*inputs)``)."""
    if layer.kind not in SPATIAL_KINDS:
        return None
    if not 0 <= channel < layer.units:
        raise ValueError(f"Unit {channel} is not a unit of layer {layer.name!r} ({layer.units} units).")
    maps = layer_response_maps(model, layer, inputs, forward)
    assert maps is not None
    return maps[channel]


def layer_response_maps(
    model: torch.nn.Module,
    layer: LayerInfo,
    inputs: Sequence[Tensor],
    forward: Callable[..., Tensor] | None = None,
) -> np.ndarray | None:
    """The rectified response maps of every unit of ``layer`` to one clip, (units, time, height,
    width), from one forward pass; None for a layer without positions (see :func:`response_map`)."""
    if layer.kind not in SPATIAL_KINDS:
        return None
    if any(x.shape[0] != 1 for x in inputs):
        raise ValueError("response_map takes one clip: every input must have a batch of 1.")
    # The forward stops once the layer has run: no later layer is computed.
    with torch.inference_mode(), recording(model, {"map": layer.module}, stop=True) as captured:
        try:
            (forward or model)(*inputs)
        except StopForward:
            pass
    response = captured["map"]
    rectified = layer.rectify(response.float(), layer.own_slope)
    if layer.kind == "conv2d":  # a tower folds snippets into the batch: (T, C, h, w)
        maps = rectified.transpose(0, 1)
    else:  # conv3d: (1, C, T, h, w)
        maps = rectified[0]
    return maps.detach().cpu().numpy().astype(np.float32)


def frame_positions(steps: int, starts: Sequence[int]) -> np.ndarray:
    """The clip frame each of a map's ``steps`` time steps stands at, given the first frames
    ``starts`` of the network's snippets: a step that summarises several snippets (a 3-D layer
    with a temporal stride) sits at the centre of the snippets it covers."""
    count = len(starts)
    centres = (np.arange(steps, dtype=np.float64) + 0.5) * count / steps - 0.5
    return np.interp(centres, np.arange(count), np.asarray(starts, dtype=np.float64))


def maps_at_frames(maps: np.ndarray, positions: np.ndarray, frames: int) -> np.ndarray:
    """A (time, h, w) map resampled in time to ``frames`` clip frames: linear between the frames its
    steps stand at (``positions``, increasing), held constant before the first and after the last."""
    maps = np.asarray(maps, dtype=np.float32)
    if len(positions) != maps.shape[0]:
        raise ValueError(f"{len(positions)} frame positions for a map of {maps.shape[0]} time steps.")
    where = np.interp(np.arange(frames), positions, np.arange(len(positions), dtype=np.float64))
    low = np.floor(where).astype(np.int64).clip(0, maps.shape[0] - 1)
    high = np.minimum(low + 1, maps.shape[0] - 1)
    weight = (where - low).astype(np.float32)[:, None, None]
    return maps[low] * (1 - weight) + maps[high] * weight


def upsample_map(maps: np.ndarray, frames: int, height: int, width: int) -> np.ndarray:
    """A (time, h, w) response map resampled to (frames, height, width), trilinearly."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"A response map is (time, height, width); got shape {maps.shape}.")
    grid = torch.from_numpy(maps)[None, None]
    resampled = F.interpolate(grid, size=(frames, height, width), mode="trilinear", align_corners=False)
    return resampled[0, 0].numpy()
