"""Descriptions of a network's inputs and of its addressable layers (the unit registry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor
from torch.nn import functional as F

from generator.errors import ModelError

InputKind = Literal["rgb", "flow"]
LayerKind = Literal["conv2d", "conv3d", "fc", "class"]


@dataclass(frozen=True)
class InputSpec:
    """One positional input of a network, shaped (B, channels, frames, height, width) in network units.

    For ``kind == "rgb"`` the values are 0..255 minus ``mean`` per channel and the temporal
    axis is ``frames``. For ``kind == "flow"`` the channels are a stack of L flow fields
    ordered (u1, v1, ..., uL, vL) in the paper's coding; temporal variation runs over those
    L fields.
    """

    name: str
    kind: InputKind
    channels: int
    frames: int
    height: int
    width: int
    mean: tuple[float, ...] | None = None

    @property
    def flow_fields(self) -> int:
        """Number of flow fields L in a flow stack (0 for RGB inputs)."""
        return self.channels // 2 if self.kind == "flow" else 0

    @property
    def temporal(self) -> bool:
        """Whether the input has a time axis for the temporal variation term (and so for chi):
        a stack of more than one flow field, or more than one frame."""
        return self.flow_fields > 1 or self.frames > 1

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Shape of one sample, without the batch axis: (C, T, H, W)."""
        return (self.channels, self.frames, self.height, self.width)


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer: where its response comes from and how its units relate to the input.

    ``module`` is the layer's own module (a convolution or linear layer: its output is
    pre-activation). ``rectified`` says whether an activation (ReLU) follows it in the
    network, so that a unit's response is that activation's output (method.md: the
    objective is the rectified response); None leaves it to the kind: every layer is
    rectified except class outputs, which stay pre-softmax scores. ``own_slope`` is that
    activation's negative slope in the trained network (0: a plain ReLU).
    """

    name: str
    module: str
    kind: LayerKind
    units: int
    stride: int
    receptive_field: int
    depth: int
    streams: tuple[str, ...]
    unit_names: tuple[str, ...] | None = None
    rectified: bool | None = None
    own_slope: float = 0.0

    def __post_init__(self) -> None:
        if self.rectified is None:
            object.__setattr__(self, "rectified", self.kind != "class")
        if not 0.0 <= self.own_slope < 1.0:
            raise ModelError(
                f"Layer {self.name!r}: own_slope is {self.own_slope!r}; it must be in [0, 1) "
                "(the negative slope of the ReLU that follows the layer)."
            )

    def rectify(self, response: Tensor, slope: float) -> Tensor:
        """The response after the activation that follows the layer, leaking with ``slope``
        (the optimisation's leaky slope, or ``own_slope`` for the trained network);
        unchanged for a layer without one."""
        if not self.rectified:
            return response
        return F.leaky_relu(response, slope) if slope else F.relu(response)


@dataclass(frozen=True)
class ModelDescription:
    """Everything the atlas needs to know about a network besides its weights."""

    name: str
    inputs: tuple[InputSpec, ...]
    layers: tuple[LayerInfo, ...]
    classes: tuple[str, ...]
    # One line per module that discovery did not list as a layer, or registered differently, and why.
    notes: tuple[str, ...] = ()

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def layer(self, name: str) -> LayerInfo:
        """The layer registered under ``name``; a ModelError lists the valid names otherwise."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ModelError(
            f"Unknown layer {name!r} for model {self.name!r}. "
            f"Valid layer names are: {', '.join(self.layer_names)}."
        )

    def input(self, name: str) -> InputSpec:
        """The input called ``name``."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise ModelError(
            f"Unknown input {name!r} for model {self.name!r}; inputs are "
            f"{', '.join(s.name for s in self.inputs)}."
        )

    def unit_id(self, layer: str, index: int) -> str:
        """Stable id of one unit, e.g. ``motion/conv3_3/0117`` or ``class/Billiards``."""
        info = self.layer(layer)
        if not 0 <= index < info.units:
            raise ModelError(
                f"Unit {index} is out of range for layer {layer!r}, which has units 0..{info.units - 1}."
            )
        if info.kind == "class":
            names = info.unit_names or self.classes
            return f"{info.name}/{names[index]}"
        width = max(4, len(str(info.units - 1)))
        return f"{info.name}/{index:0{width}d}"
