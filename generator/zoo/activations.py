"""A ReLU whose negative slope can be changed, and a copy of a model with leaky ReLUs.

Activation maximisation runs with leaky ReLUs (slope 0.05 in the paper) so that gradients
still reach units that are switched off; the trained network itself uses plain ReLUs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F


class ReLU(nn.Module):
    """ReLU with an adjustable ``negative_slope`` (0.0: the ordinary ReLU)."""

    def __init__(self, negative_slope: float = 0.0) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.negative_slope == 0.0:
            return F.relu(x)
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


def with_negative_slope(model: nn.Module, slope: float) -> nn.Module:
    """A deep copy of ``model`` in which every ReLU leaks with ``slope``; ``model`` is untouched."""
    clone = copy.deepcopy(model)
    _set_slope(clone, float(slope))
    return clone


def _set_slope(module: nn.Module, slope: float) -> None:
    # Only ever called on a private copy, so changing it in place is safe.
    for name, child in module.named_children():
        if isinstance(child, ReLU):
            child.negative_slope = slope
        elif isinstance(child, (nn.ReLU, nn.LeakyReLU)):
            setattr(module, name, nn.LeakyReLU(slope) if slope else nn.ReLU())
        else:
            _set_slope(child, slope)
