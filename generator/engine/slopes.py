"""Activations of the private model copy whose slope switches between phases without recompiling.

The loop runs the first steps with leaky ReLUs and the rest with the network's own ones.
A Python float slope would be a constant of a compiled graph: every switch would compile
the network again. :class:`PhaseReLU` keeps its current slope twice: as a float for the
eager path (one fused ``leaky_relu`` kernel, no device read) and as a 0-dim tensor that a
compiled graph takes as an input, so one graph serves both phases.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from generator.zoo.activations import ReLU


class PhaseReLU(nn.Module):
    """A (leaky) ReLU with two slopes: ``leaky_slope`` while leaking, ``own_slope`` otherwise."""

    def __init__(self, own_slope: float, leaky_slope: float) -> None:
        super().__init__()
        self.own_slope = float(own_slope)
        self.leaky_slope = float(leaky_slope)
        self.negative_slope = self.leaky_slope
        self.register_buffer("slope", torch.tensor(self.leaky_slope), persistent=False)

    def set_leaking(self, leaking: bool) -> None:
        """Switch phase. ``fill_`` queues a device write and never waits for the device."""
        self.negative_slope = self.leaky_slope if leaking else self.own_slope
        self.slope.fill_(self.negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        if torch.compiler.is_compiling():
            # The slope is a graph input: the same graph serves every phase. x > 0 selects
            # like leaky_relu, whose gradient at 0 is the slope as well.
            return torch.where(x > 0, x, x * self.slope.to(x.dtype))
        if self.negative_slope == 0.0:
            return F.relu(x)
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"own_slope={self.own_slope}, leaky_slope={self.leaky_slope}"


def is_activation(module: nn.Module) -> bool:
    """Activations whose slope the engine controls (the zoo's ReLU and torch's (leaky) ReLUs)."""
    return isinstance(module, (ReLU, nn.ReLU, nn.LeakyReLU, PhaseReLU))


def with_phase_relus(model: nn.Module, leaky_slope: float) -> nn.Module:
    """``model`` (changed in place: call it on a private copy only) with every activation a
    :class:`PhaseReLU` that keeps the activation's own slope for the own phase."""
    for name, child in list(model.named_children()):
        if is_activation(child):
            own = (
                child.own_slope
                if isinstance(child, PhaseReLU)
                else float(getattr(child, "negative_slope", 0.0))
            )
            setattr(model, name, PhaseReLU(own, leaky_slope))
        else:
            with_phase_relus(child, leaky_slope)
    return model


def phase_relus(model: nn.Module) -> Iterator[tuple[str, PhaseReLU]]:
    """The named PhaseReLUs of ``model``."""
    for name, module in model.named_modules():
        if isinstance(module, PhaseReLU):
            yield name, module


def set_leaking(model: nn.Module, leaking: bool) -> None:
    """Put every PhaseReLU of ``model`` (a private copy) into the leaky or the own phase."""
    for _, module in phase_relus(model):
        module.set_leaking(leaking)
