"""Modules that hold a network's class scores, so a forward hook can see them.

The registry's "class" layer points at one of these: its output is the (B, num_classes)
pre-softmax score that the network returns.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassScores(nn.Module):
    """Identity on the final class scores; marks them for the layer registry."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return scores


class ScoreAverage(ClassScores):
    """The mean of several heads' class scores (the two-stream net's late fusion)."""

    def forward(self, *scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.stack(scores, dim=0).mean(dim=0)


def default_class_names(count: int) -> tuple[str, ...]:
    """Placeholder class names ``class_000``, ``class_001``, ... for a net given no names."""
    width = max(3, len(str(count - 1)))
    return tuple(f"class_{index:0{width}d}" for index in range(count))
