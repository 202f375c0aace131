"""Objectives: which number of a layer's response each batch row maximises.

An objective is a small value built before the loop runs (Lucid style) and called on the
captured response; it returns one activation per batch row, so a batch optimises
several units of one layer at once.

The captured response is the registry module's forward output, i.e. pre-activation
wherever the registry points at a convolution or linear layer. The objective is the
RECTIFIED response (method.md): the activation that follows the layer
(``LayerInfo.rectified``) is applied here, element-wise and before any reduction, with the
negative slope the caller gives: the loop optimises with the leaky slope (also during the
steps in which the rest of the network uses its own ReLUs, so that a channel the switch
turns off keeps a gradient) and measures the final activation with the layer's own slope. A unit fed by two streams then couples them:
the channel mean of a rectified sum is not a sum of per-stream parts. Class outputs stay
pre-softmax scores. Shapes: tower convolutions (B*T, C, h, w) with snippet-major folding
(row b*T + t); conv3d (B, C, T, h, w); fc/class (B, C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from generator.zoo.spec import LayerInfo

ObjectiveMode = Literal["centre", "mean"]


def objective_mode(layer: LayerInfo, objective: str) -> ObjectiveMode:
    """The paper's rule for what a unit's activation is.

    Convolutional layers: the neuron at the centre of the feature map (spatial centre and
    temporal centre). Layers that fuse several inputs: the channel, i.e. its mean over all
    positions (method.md: "for the fusion layer, the rectified channel mean"; a fusion
    unit's visualization then covers the whole frame, as in the paper's figures).
    *(choice)* "fusion layer" is recognised generically as a convolutional layer whose
    LayerInfo.streams names more than one input. fc/class layers: the single value (the
    "centre" of no spatial axes). ``objective == "mean"`` uses the channel mean everywhere.
    """
    if objective == "mean":
        return "mean"
    if layer.kind in ("conv2d", "conv3d") and len(set(layer.streams)) > 1:
        return "mean"
    return "centre"


@dataclass(frozen=True)
class UnitObjective:
    """Rectified activation of ``units[b]`` for batch row b, as float32 (B,)."""

    mode: ObjectiveMode
    units: Tensor  # (B,) long, one channel index per row
    layer: LayerInfo

    def __call__(self, response: Tensor, slope: float) -> Tensor:
        """The activation of each row; ``slope`` is the negative slope of the activation
        that follows the layer in the current phase (ignored for unrectified layers)."""
        b = self.units.shape[0]
        rows = torch.arange(b, device=response.device)
        units = self.units.to(response.device)
        if response.shape[0] != b:
            # Towers fold T snippets into the batch: (B*T, C, ...) -> (B, T, C, ...), then
            # the temporal centre (index T // 2) or the mean over T.
            if response.shape[0] % b:
                raise ValueError(
                    f"The layer response has leading size {response.shape[0]}, not a multiple of the batch {b}."
                )
            folded = response.reshape(b, response.shape[0] // b, *response.shape[1:])
            if self.mode == "centre":
                response = folded[:, folded.shape[1] // 2]
            else:
                # Rectify each snippet before the mean over snippets (the ReLU acts per position).
                channel = self.layer.rectify(folded[rows, :, units].float(), slope)  # (B, T, ...)
                return channel.flatten(1).mean(dim=1)
        # The unit's channel is picked before rectifying: the activation is element-wise.
        if self.mode == "centre":
            centre = tuple(size // 2 for size in response.shape[2:])
            return self.layer.rectify(response[(rows, units, *centre)].float(), slope)
        channel = self.layer.rectify(response[rows, units].float(), slope)
        return channel.flatten(1).mean(dim=1) if channel.ndim > 1 else channel


def unit_objective(layer: LayerInfo, objective: str, units: Tensor) -> UnitObjective:
    """The objective of ``layer`` for one unit per row."""
    return UnitObjective(objective_mode(layer, objective), units.long(), layer)
