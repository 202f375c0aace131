"""The paper's optimiser (momentum with an AdaGrad-style denominator) and the norm projection.

    G <- decay G + g^2 ;  m <- momentum m - g / (1/lr + sqrt(G)) ;  x <- x + m

with a per-pixel learning rate lr = H * W * lr_scale * B^2 / alpha. The H * W factor
undoes the 1/(H W) of the regularisers' means; 1/lr only damps steps where the gradient
is tiny, otherwise the step is normalized by the running gradient size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from generator.engine.regularizers import as_fields, from_fields
from generator.zoo.spec import InputSpec


def learning_rate(height: int, width: int, *, lr_scale: float, bound: float, alpha: float) -> float:
    """lr = H * W * lr_scale * B^2 / alpha (the paper's per-pixel learning rate)."""
    return height * width * lr_scale * bound**2 / alpha


@dataclass(frozen=True)
class MomentumState:
    """Optimiser state for one tensor: the velocity m and the running squared gradient G."""

    velocity: Tensor
    accum: Tensor

    @staticmethod
    def zeros_like(x: Tensor) -> MomentumState:
        return MomentumState(torch.zeros_like(x), torch.zeros_like(x))


def momentum_adagrad_step(
    x: Tensor, grad: Tensor, state: MomentumState, *, lr: float, momentum: float, decay: float
) -> tuple[Tensor, MomentumState]:
    """One update; returns the new x and state (the arguments are left untouched)."""
    accum = decay * state.accum + grad.square()
    velocity = momentum * state.velocity - grad / (1.0 / lr + accum.sqrt())
    return x + velocity, MomentumState(velocity, accum)


def masked_momentum_step(
    x: Tensor,
    grad: Tensor,
    velocity: Tensor,
    accum: Tensor,
    keep: Tensor,
    *,
    lr: float,
    momentum: float,
    decay: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """The update for rows where ``keep`` (broadcastable bool) holds; other rows are frozen.

    Frozen rows keep x and get a zero velocity, so they do not drift on momentum. Tensors
    only (no state object) so that it compiles into one fused kernel under torch.compile.
    """
    if x.device.type == "cpu" and not torch.compiler.is_compiling() and bool(keep.all()):
        # The usual case, every row alive: on the CPU the check costs nothing (no device to
        # wait for) and saves three masking passes over the tensor.
        new_x, state = momentum_adagrad_step(
            x, grad, MomentumState(velocity, accum), lr=lr, momentum=momentum, decay=decay
        )
        return new_x, state.velocity, state.accum
    new_x, state = momentum_adagrad_step(
        x, torch.where(keep, grad, 0.0), MomentumState(velocity, accum), lr=lr, momentum=momentum, decay=decay
    )
    return torch.where(keep, new_x, x), torch.where(keep, state.velocity, 0.0), state.accum


def project_norm(x: Tensor, spec: InputSpec, radius: float) -> Tensor:
    """Scale every pixel vector (see regularizers.as_fields) whose L2 norm exceeds ``radius`` onto it.

    RGB: the colour of a pixel in one frame; flow: one field's (u, v) at a pixel.
    """
    fields = as_fields(x, spec)
    norm = fields.square().sum(dim=2, keepdim=True).sqrt()
    # radius / 0 = inf is clamped to 1: zero vectors stay zero.
    factor = (radius / norm).clamp(max=1.0)
    return from_fields(fields * factor)
