"""A tiny user model brought by import path ("tests.fixtures_user_model:build") in the zoo tests."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

SIZE = 48
INPUTS = (
    InputSpec("appearance", "rgb", 3, 1, SIZE, SIZE, (123.68, 116.78, 103.94)),
    InputSpec("motion", "flow", 2, 1, SIZE, SIZE, None),
)
CLASSES = ("Left", "Right", "Up", "Down", "Still")


class TinyTwoStream(nn.Module):
    """Two branches of known geometry joined by a Conv3d, then a linear classifier.

    Appearance: conv 5x5 stride 2 (rf 5, stride 2) -> max pool 2 (rf 7, stride 4)
    -> conv 3x3 dilation 2 (rf 7 + 2*2*4 = 23). Motion: conv 3x3 stride 4 (rf 3, stride 4).
    Mix: 1x3x3 Conv3d over both (rf 23 + 2*4 = 31, stride 4).
    """

    def __init__(self) -> None:
        super().__init__()
        self.a1 = nn.Conv2d(3, 4, kernel_size=5, stride=2, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.a2 = nn.Conv2d(4, 6, kernel_size=3, padding=2, dilation=2)
        self.b1 = nn.Conv2d(2, 6, kernel_size=3, stride=4, padding=1)
        self.mix = nn.Conv3d(12, 8, kernel_size=(1, 3, 3), padding=(0, 1, 1))
        self.fc = nn.Linear(8, len(CLASSES))

    def forward(self, appearance: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        a = self.a2(self.pool(F.relu(self.a1(appearance[:, :, 0]), inplace=True)))
        b = F.relu(self.b1(motion[:, :, 0]))
        mixed = self.mix(torch.cat([a, b], dim=1).unsqueeze(2))
        return self.fc(F.relu(mixed).mean(dim=(2, 3, 4)))


EXPECTED = {  # module: (units, stride, receptive field, streams)
    "a1": (4, 2, 5, ("appearance",)),
    "a2": (6, 4, 23, ("appearance",)),
    "b1": (6, 4, 3, ("motion",)),
    "mix": (8, 4, 31, ("appearance", "motion")),
}


def build() -> tuple[nn.Module, tuple[InputSpec, ...], tuple[str, ...]]:
    """The model with its inputs and class names: the layer registry is discovered."""
    return TinyTwoStream(), INPUTS, CLASSES


def build_described() -> tuple[nn.Module, ModelDescription]:
    """The same model with a hand-written description."""
    layers = tuple(
        LayerInfo(name, name, "conv3d" if name == "mix" else "conv2d", units, stride, field, depth, streams)
        for depth, (name, (units, stride, field, streams)) in enumerate(EXPECTED.items(), 1)
    ) + (LayerInfo("class", "fc", "class", len(CLASSES), 1, SIZE, 5, ("appearance", "motion"), CLASSES),)
    return TinyTwoStream(), ModelDescription("tiny", INPUTS, layers, CLASSES)
