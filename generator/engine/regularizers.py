"""The paper's image priors: the alpha-norm R_alpha and the spatiotemporal variation R_stv.

Every function works on a batch (B, C, T, H, W) and returns one value per row, because
each row of a batch is an independent problem (its own unit and chi).

Pixel vectors *(choice, method.md leaves it open for flow)*: for an RGB input the
"channel vector" of a pixel is its colour at one frame (C = 3). A flow stack is treated
the same way as an RGB clip whose frames are the L flow fields: the vector of a pixel is
one field's (u, v). The L fields are the flow input's time axis (the chi term runs over
them), so summing over all 2L channels would mix time into the norm, just as summing an
RGB clip over its T frames would. This also keeps one B for both streams meaningful:
a (u, v) pair has about the per-value range of an RGB colour, while a 2L-vector's norm
grows with sqrt(L).
"""

from __future__ import annotations

import torch
from torch import Tensor

from generator.zoo.spec import InputSpec

# Fractional powers of 0 have an infinite derivative: zeros stay exactly zero, with a zero
# gradient, and the power is only taken of values clamped away from 0.
_POW_FLOOR = 1e-12


def as_fields(x: Tensor, spec: InputSpec) -> Tensor:
    """View (B, C, T, H, W) as (B, K, G, T, H, W): K time-like fields of G-vectors per pixel.

    RGB: K = 1, G = C. Flow: K = L fields, G = 2 (u, v), following the channel order
    (u1, v1, ..., uL, vL).
    """
    b, c, t, h, w = x.shape
    if spec.kind == "flow":
        return x.reshape(b, c // 2, 2, t, h, w)
    return x.reshape(b, 1, c, t, h, w)


def from_fields(fields: Tensor) -> Tensor:
    """Inverse of :func:`as_fields`."""
    b, k, g, t, h, w = fields.shape
    return fields.reshape(b, k * g, t, h, w)


def _powered(value: Tensor, exponent: float) -> Tensor:
    # value is a sum of squares; exponent == 1 is the common (beta = 2) case, kept exact.
    if exponent == 1.0:
        return value
    if exponent == int(exponent) and exponent > 1:
        # Whole powers (alpha = 6: cubes) have a finite derivative at 0: no guard needed,
        # which saves three element-wise passes per call.
        return value ** int(exponent)
    return torch.where(value > 0, value.clamp_min(_POW_FLOOR) ** exponent, 0.0)


def alpha_norm(x: Tensor, spec: InputSpec, alpha: float, scale: float = 1.0) -> Tensor:
    """R_alpha per row of x / scale: mean over pixels (and frames/fields) of ||pixel vector / scale||^alpha."""
    fields = as_fields(x, spec)
    squares = fields.square().sum(dim=2)
    if scale != 1.0:
        squares = squares * (1.0 / scale**2)  # on the summed squares: fewer values than x
    return _powered(squares, alpha / 2.0).flatten(1).mean(dim=1)


def forward_difference(x: Tensor, dim: int) -> Tensor:
    """x[i+1] - x[i] along ``dim`` with a zero at the end (replicate boundary), same shape as x."""
    n = x.shape[dim]
    if n == 1:
        return torch.zeros_like(x)
    diff = x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
    pad_shape = list(x.shape)
    pad_shape[dim] = 1
    return torch.cat([diff, diff.new_zeros(pad_shape)], dim=dim)


def variation_terms(x: Tensor, spec: InputSpec) -> tuple[Tensor, Tensor]:
    """(spatial, temporal) squared forward differences, each shaped (B, K, G, T, H, W).

    Temporal differences run over the frames T of an RGB input and over the L fields of a
    flow stack. For a flow input with T > 1 snippets the same field of consecutive
    snippets is differenced as well (the RGB rule applied to the snippet axis), with the
    same chi.
    """
    fields = as_fields(x, spec)
    spatial = forward_difference(fields, 4).square() + forward_difference(fields, 5).square()
    temporal = forward_difference(fields, 1).square() + forward_difference(fields, 3).square()
    return spatial, temporal


def spatiotemporal_variation(x: Tensor, spec: InputSpec, chi: Tensor | float, beta: float) -> Tensor:
    """R_stv per row: mean over (i, j, t, c) of [Dx^2 + Dy^2 + chi Dt^2]^(beta/2).

    ``chi`` is a float or a (B,) tensor (one chi per row).
    """
    chi_t = torch.as_tensor(chi, dtype=x.dtype, device=x.device)
    if beta == 2.0:
        # The paper's case: the mean of a sum of squares splits into per-axis sums, which
        # skips building padded difference tensors (fewer memory passes per step).
        fields = as_fields(x, spec)
        count = fields[0].numel()
        spatial = _squared_difference_sum(fields, (4, 5))
        temporal = _squared_difference_sum(fields, (1, 3))
        return (spatial + chi_t.reshape(-1) * temporal) / count
    spatial, temporal = variation_terms(x, spec)
    if chi_t.ndim == 1:
        chi_t = chi_t.view(-1, 1, 1, 1, 1, 1)
    return _powered(spatial + chi_t * temporal, beta / 2.0).flatten(1).mean(dim=1)


def _squared_difference_sum(fields: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Sum per row of the squared forward differences along ``dims`` (0 for axes of size 1)."""
    total = fields.new_zeros(fields.shape[0])
    for dim in dims:
        n = fields.shape[dim]
        if n > 1:
            diff = fields.narrow(dim, 1, n - 1) - fields.narrow(dim, 0, n - 1)
            total = total + diff.square().flatten(1).sum(dim=1)
    return total


def temporal_variation(x: Tensor, spec: InputSpec) -> Tensor:
    """Root-mean-square temporal forward difference per row (0 for a single frame).

    A data-free summary of how much a visualization changes over time: over the L flow
    fields of a flow stack, over the frames of an RGB clip. The mean runs over the
    positions that have a successor only.
    """
    fields = as_fields(x, spec)
    parts = []
    for dim in (1, 3):
        n = fields.shape[dim]
        if n > 1:
            d = fields.narrow(dim, 1, n - 1) - fields.narrow(dim, 0, n - 1)
            parts.append(d.square().flatten(1))
    if not parts:
        return x.new_zeros(x.shape[0])
    return torch.cat(parts, dim=1).mean(dim=1).sqrt()


def regularizer_terms(
    x: Tensor, spec: InputSpec, chi: Tensor, *, alpha: float, beta: float, lam_alpha: float, lam_tv: float
) -> tuple[Tensor, Tensor]:
    """(lam_alpha R_alpha, lam_tv R_stv) per row, computed in float32.

    lam * R(x) is evaluated as R(x / s) with lam = s^-power: identical in exact arithmetic
    and it keeps float32 far from overflow (R_alpha of raw pixels reaches 1e12). The scale is
    applied to the summed squares (alpha-norm) or, for beta = 2, to each row's sum.
    """
    x = x.float()
    if lam_alpha > 0:
        a_scale = lam_alpha ** (-1.0 / alpha)
        r_alpha = alpha_norm(x, spec, alpha, scale=a_scale)
    else:
        r_alpha = x.new_zeros(x.shape[0])
    if lam_tv > 0:
        v_scale = lam_tv ** (-1.0 / beta)
        if beta == 2.0:
            # A sum of squares: the scale factors out of the per-row value (one multiply per row).
            r_tv = spatiotemporal_variation(x, spec, chi, beta) * lam_tv
        else:
            r_tv = spatiotemporal_variation(x / v_scale, spec, chi, beta)
    else:
        r_tv = x.new_zeros(x.shape[0])
    return r_alpha, r_tv
