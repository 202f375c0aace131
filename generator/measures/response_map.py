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
        maps = rectified[:, channel]
    else:  # conv3d: (1, C, T, h, w)
        maps = rectified[0, channel]
    return maps.detach().cpu().numpy().astype(np.float32)


def upsample_map(maps: np.ndarray, frames: int, height: int, width: int) -> np.ndarray:
    """A (time, h, w) response map resampled to (frames, height, width), trilinearly."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"A response map is (time, height, width); got shape {maps.shape}.")
    grid = torch.from_numpy(maps)[None, None]
    resampled = F.interpolate(grid, size=(frames, height, width), mode="trilinear", align_corners=False)
    return resampled[0, 0].numpy()
