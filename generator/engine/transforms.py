"""Coherent transformations of a clip: jitter (the paper's) and scale/rotation ("robust" preset).

Every transformation is drawn per batch row and applied identically to every frame and
every input of that row: moving frames independently would create motion that is not in
the clip, and the appearance and motion streams must stay aligned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from generator.engine.regularizers import as_fields, from_fields
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

# Flow coding of the contract: code = f * 255/40 - 0.5, so vectors are linear in code + 0.5.
FLOW_ZERO_CODE = -0.5


def jitter_radius(description: ModelDescription, layer: LayerInfo) -> int:
    """max(round(stride / 4), 1) pixels, stride being the target layer's cumulative stride.

    *(choice)* fc and class layers are registered with stride 1; for them the largest
    stride of the convolutional layers feeding them (sharing an input) is used, as their
    units see the whole image through that last convolutional grid. round() is MATLAB's
    (halves away from zero) like the reference implementation's.
    """
    stride = layer.stride
    if layer.kind in ("fc", "class"):
        feeding = [
            other.stride
            for other in description.layers
            if other.kind in ("conv2d", "conv3d") and set(other.streams) & set(layer.streams or other.streams)
        ]
        stride = max(feeding, default=stride)
    return max(int(math.floor(stride / 4.0 + 0.5)), 1)


def roll_rows(x: Tensor, shifts: Tensor) -> Tensor:
    """Circularly shift each row of (B, ..., H, W) by its own (dy, dx) (torch.roll semantics).

    *(choice)* a circular shift keeps every pixel inside the image, so the gradient of
    every optimised pixel is defined at every step (a crop would leave borders without it).
    A channels-last input gives a channels-last result (the gather runs on the view whose
    memory order is the logical one), so the network's inputs are not converted per step.
    """
    if x.ndim in (4, 5) and x.shape[1] > 1 and _is_channels_last(x):
        return _roll_hw(x.movedim(1, -1), shifts, -3, -2).movedim(-1, 1)
    return _roll_hw(x, shifts, -2, -1)


def _is_channels_last(x: Tensor) -> bool:
    layout = torch.channels_last_3d if x.ndim == 5 else torch.channels_last
    return x.is_contiguous(memory_format=layout) and not x.is_contiguous()


def _roll_hw(x: Tensor, shifts: Tensor, h_dim: int, w_dim: int) -> Tensor:
    """:func:`roll_rows` with the image axes at ``h_dim`` and ``w_dim`` (negative indices)."""
    b, h, w = x.shape[0], x.shape[h_dim], x.shape[w_dim]
    shifts = shifts.to(device=x.device, dtype=torch.long)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    index_y = (rows[None, :] - shifts[:, 0:1]) % h
    index_x = (cols[None, :] - shifts[:, 1:2]) % w
    shape_y = [b] + [1] * (x.ndim - 1)
    shape_y[h_dim] = h
    shape_x = [b] + [1] * (x.ndim - 1)
    shape_x[w_dim] = w
    x = x.gather(h_dim, index_y.view(shape_y).expand(x.shape))
    return x.gather(w_dim, index_x.view(shape_x).expand(x.shape))


def affine_rows(x: Tensor, spec: InputSpec, scales: Tensor, angles: Tensor) -> Tensor:
    """Scale by ``scales`` and rotate by ``angles`` (radians) about the centre, per row.

    The content at input position p moves to s R(angle) p (image axes, y down). For a flow
    input the vectors are transformed with the same matrix, otherwise a rotated clip would
    carry flow pointing the old way.
    """
    b, c, t, h, w = x.shape
    cos, sin = torch.cos(angles).float(), torch.sin(angles).float()
    inv_s = 1.0 / scales.float()
    # Output -> input sampling matrix (1/s) R(-angle), in grid_sample's normalized coordinates.
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=torch.float32)
    theta[:, 0, 0] = cos * inv_s
    theta[:, 0, 1] = sin * inv_s * h / w
    theta[:, 1, 0] = -sin * inv_s * w / h
    theta[:, 1, 1] = cos * inv_s
    grid = F.affine_grid(theta, [b, c * t, h, w], align_corners=False)
    moved = F.grid_sample(
        x.reshape(b, c * t, h, w),
        grid.to(x.dtype),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    ).reshape(b, c, t, h, w)
    if spec.kind != "flow":
        return moved
    fields = as_fields(moved, spec) - FLOW_ZERO_CODE
    u, v = fields[:, :, 0], fields[:, :, 1]
    s = scales.float().view(b, 1, 1, 1, 1)
    c_, s_ = cos.view(b, 1, 1, 1, 1), sin.view(b, 1, 1, 1, 1)
    rotated = torch.stack([s * (c_ * u - s_ * v), s * (s_ * u + c_ * v)], dim=2)
    return from_fields(rotated + FLOW_ZERO_CODE)


def transform_inputs(
    xs: Sequence[Tensor],
    specs: Sequence[InputSpec],
    shifts: Tensor | None,
    scales: Tensor | None = None,
    angles: Tensor | None = None,
) -> list[Tensor]:
    """Apply one row-wise transformation to every input: scale/rotation first, then the shift."""
    out = []
    for x, spec in zip(xs, specs):
        if scales is not None and angles is not None:
            x = affine_rows(x, spec, scales, angles)
        if shifts is not None:
            x = roll_rows(x, shifts)
        out.append(x)
    return out


class Jitter(nn.Module):
    """The paper's jitter as a transform module for :func:`generator.visualize`: each row of the
    batch shifted circularly by its own random (dy, dx) of at most ``pixels``, the same shift for
    every frame and input of the row. A transform module takes and returns the list of inputs
    (B, C, T, H, W); modules chain with ``nn.Sequential``. ``seed`` fixes the shifts drawn."""

    def __init__(self, pixels: int, seed: int = 0) -> None:
        super().__init__()
        if pixels < 0:
            raise ValueError(f"Jitter needs pixels >= 0, got {pixels}.")
        self.pixels = int(pixels)
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, inputs: Sequence[Tensor]) -> list[Tensor]:
        shifts = torch.randint(
            -self.pixels, self.pixels + 1, (inputs[0].shape[0], 2), generator=self.generator
        )
        return [roll_rows(x, shifts) for x in inputs]
