"""A small two-stream network of one's own, brought to the atlas with a short ``build()``.

Run it (from the repository root, so that ``examples`` is importable)::

    atlas layers --model examples.two_stream:build
    atlas build --model examples.two_stream:build --set max_units_per_layer=2 --set visualize.steps=40

The contract (README, "Your own model"):

* ``build()`` returns ``(network, inputs)`` or ``(network, inputs, class_names)``; it may
  return ``(network, ModelDescription)`` instead, to name the layers itself.
* ``network(*inputs)`` takes one tensor per ``InputSpec``, in the order of ``inputs``, each
  5-D ``(B, channels, frames, height, width)``: even a single frame keeps its time axis of 1.
  RGB is 0..255 minus ``mean``; flow is a stack of L fields ``(u1, v1, ..., uL, vL)`` in the
  paper's coding (pixels * 128 / 20).
* It returns the class scores ``(B, num_classes)`` before the softmax. That output is the
  class layer "class", whatever computes it (here the mean of two heads). Every Conv2d,
  Conv3d and Linear that runs becomes a layer; ``atlas layers`` prints a note for any module
  that is not listed, and why.
* With the synthetic world's 12 classes, inputs named "appearance" and "motion", frames of
  ``data.size`` pixels and ``data.flow_fields`` flow fields, the atlas has data for it (rho,
  selectivity, top clips, failure cases); otherwise it visualizes without data.

The weights here are random (seeded); pass ``--checkpoint`` with a state dict of your own.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from generator.world import CLASSES
from generator.world.inputs import RGB_MEAN
from generator.zoo import InputSpec

SIZE = 64  # the default data.size
FLOW_FIELDS = 4  # the default data.flow_fields


class TwoStream(nn.Module):
    """Appearance and motion towers (two convs each), a Conv3d fusing them, and two class heads
    (fused and motion-only) whose scores are averaged: late fusion, as in the paper."""

    def __init__(self, classes: int = len(CLASSES), width: int = 8, flow_fields: int = FLOW_FIELDS) -> None:
        super().__init__()
        self.rgb1 = nn.Conv2d(3, width, 5, stride=2, padding=2)
        self.rgb2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.flow1 = nn.Conv2d(2 * flow_fields, width, 5, stride=2, padding=2)
        self.flow2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.fuse = nn.Conv3d(4 * width, 2 * width, (1, 3, 3), padding=(0, 1, 1))
        self.fused_head = nn.Linear(2 * width, classes)
        self.motion_head = nn.Linear(2 * width, classes)

    def forward(self, appearance: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        # Inputs are (B, C, 1, H, W); the towers are 2-D, so the time axis of 1 is dropped.
        a = F.max_pool2d(F.relu(self.rgb2(F.relu(self.rgb1(appearance[:, :, 0])))), 2)
        m = F.max_pool2d(F.relu(self.flow2(F.relu(self.flow1(motion[:, :, 0])))), 2)
        fused = F.relu(self.fuse(torch.cat([a, m], dim=1).unsqueeze(2)))
        scores = self.fused_head(fused.mean(dim=(2, 3, 4))) + self.motion_head(m.mean(dim=(2, 3)))
        return scores / 2


INPUTS = (
    InputSpec("appearance", "rgb", 3, 1, SIZE, SIZE, RGB_MEAN),
    InputSpec("motion", "flow", 2 * FLOW_FIELDS, 1, SIZE, SIZE, None),
)


def build() -> tuple[nn.Module, tuple[InputSpec, ...], tuple[str, ...]]:
    """The network (seeded random weights), its inputs in forward's order, and its class names."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = TwoStream()
    return network, INPUTS, CLASSES
