"""Objectives that compose (lucent / captum.optim style) and run through the same engine.

An :class:`Objective` maps the responses of one or more layers to one number per batch
row. Objectives add, subtract, negate and scale (``unit(a) - 0.5 * unit(b)``). To run one,
:func:`objective_network` wraps the network in a module whose single output *is* the
objective: the engine then maximises "unit 0" of that output layer with its usual
parameterization, regularisers, transforms, batching and chi sweep, so there is one engine,
not two.

Responses are the registry modules' forward outputs (pre-activation for convolutions and
linear layers). Tower layers fold the snippets into the batch, (B*T, C, h, w); they are
unfolded here to (B, T, C, h, w) so that every objective sees one row per batch row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from generator.engine.objectives import objective_mode
from generator.engine.settings import EngineSettings
from generator.errors import ConfigError, ModelError
from generator.zoo.capture import StopForward, recording
from generator.zoo.spec import LayerInfo, ModelDescription

OBJECTIVE_LAYER = "objective"
OBJECTIVE_MODULE = "objective_output"

Responses = Mapping[str, Tensor]


@dataclass(frozen=True)
class Bound:
    """An objective bound to one model: the layers it reads and its value per batch row."""

    layers: tuple[str, ...]
    function: Callable[[Responses, int], Tensor]

    def __call__(self, responses: Responses, batch: int) -> Tensor:
        return self.function(responses, batch)


@dataclass(frozen=True)
class Objective:
    """A quantity to maximise, written before the model is known; ``bind`` resolves it
    against a model's description (layer names, the paper's rule for a unit)."""

    bind: Callable[[ModelDescription], Bound]
    name: str

    def _combine(self, other: Objective, op: Callable[[Tensor, Tensor], Tensor], name: str) -> Objective:
        def bind(description: ModelDescription) -> Bound:
            a, b = self.bind(description), other.bind(description)
            return Bound(_union(a.layers, b.layers), lambda r, n: op(a(r, n), b(r, n)))

        return Objective(bind, name)

    def _map(self, op: Callable[[Tensor], Tensor], name: str) -> Objective:
        def bind(description: ModelDescription) -> Bound:
            a = self.bind(description)
            return Bound(a.layers, lambda r, n: op(a(r, n)))

        return Objective(bind, name)

    def __add__(self, other: Objective | float) -> Objective:
        if isinstance(other, Objective):
            return self._combine(other, lambda a, b: a + b, f"{self.name} + {other.name}")
        value = _scalar(other)
        return self._map(lambda a: a + value, f"{self.name} + {value:g}")

    __radd__ = __add__

    def __neg__(self) -> Objective:
        return self._map(lambda a: -a, f"-({self.name})")

    def __sub__(self, other: Objective | float) -> Objective:
        if isinstance(other, Objective):
            return self._combine(other, lambda a, b: a - b, f"{self.name} - {other.name}")
        return self + (-_scalar(other))

    def __rsub__(self, other: float) -> Objective:
        return (-self) + other

    def __mul__(self, factor: float) -> Objective:
        value = _scalar(factor)
        return self._map(lambda a: value * a, f"{value:g} * {self.name}")

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Objective:
        value = _scalar(divisor)
        if value == 0:
            raise ConfigError("An objective cannot be divided by 0.")
        return self * (1.0 / value)


def _scalar(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"Objectives combine with other objectives and numbers only, not {value!r}.")
    return float(value)


def _union(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


def rows(response: Tensor, batch: int) -> Tensor:
    """The response with one leading row per batch row: (B*T, C, ...) -> (B, T, C, ...)."""
    if response.shape[0] == batch:
        return response
    if response.shape[0] % batch:
        raise ModelError(
            f"A layer response has leading size {response.shape[0]}, not a multiple of the batch {batch}."
        )
    return response.reshape(batch, response.shape[0] // batch, *response.shape[1:])


def _channel_axis(original: Tensor, batch: int) -> int:
    """Axis of the channels in ``rows(original, batch)``: 2 for folded towers, else 1."""
    return 1 if original.shape[0] == batch else 2


def parse_unit_id(description: ModelDescription, unit_id: str) -> tuple[str, int]:
    """``"motion/conv3_1/0017"`` -> ("motion/conv3_1", 17); ``"class/Billiards"`` -> ("class", 2).

    The id is a registered layer name, a slash and the unit's index (leading zeros allowed)
    or, for class outputs, the class name. Errors name the valid layers or units.
    """
    text = str(unit_id).strip()
    layer, _, unit = text.rpartition("/")
    if text in description.layer_names:
        info = description.layer(text)
        raise ModelError(
            f"{text!r} names a layer, not a unit; add the unit, e.g. {description.unit_id(text, 0)!r} "
            f"(units 0..{info.units - 1})."
        )
    if not layer or layer not in description.layer_names:
        raise ModelError(
            f"Cannot read the unit id {text!r}: it must be <layer>/<unit> with a layer of model "
            f"{description.name!r}: {', '.join(description.layer_names)}."
        )
    info = description.layer(layer)
    names = tuple(info.unit_names or (description.classes if info.kind == "class" else ()))
    if unit in names:
        return layer, names.index(unit)
    if unit.isdigit() and int(unit) < info.units:
        return layer, int(unit)
    valid = f"0..{info.units - 1}" + (f" or one of {', '.join(names)}" if names else "")
    raise ModelError(f"Unit {unit!r} does not exist in layer {layer!r}; valid units are {valid}.")


def _address(description: ModelDescription, target: str, index: int | None) -> tuple[LayerInfo, int]:
    """(layer, unit) from a unit id, or from a layer name and an index."""
    if index is None:
        layer, index = parse_unit_id(description, target)
    else:
        layer = target
    info = description.layer(layer)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < info.units:
        raise ModelError(
            f"Unit {index!r} is out of range for layer {info.name!r}, which has units 0..{info.units - 1}."
        )
    return info, index


def _label(target: str, index: int | None) -> str:
    return target if index is None else f"{target}/{index}"


def _channel_value(layer: str, index: int) -> Callable[[Responses, int], Tensor]:
    def value(responses: Responses, batch: int) -> Tensor:
        original = responses[layer]
        picked = rows(original, batch).select(_channel_axis(original, batch), index)
        return picked.float().reshape(batch, -1).mean(dim=1)

    return value


def _neuron_value(
    layer: str, index: int, position: Sequence[int] | None
) -> Callable[[Responses, int], Tensor]:
    def value(responses: Responses, batch: int) -> Tensor:
        original = responses[layer]
        response = rows(original, batch)
        if original.shape[0] != batch:  # folded snippets: the temporal centre first
            response = response[:, response.shape[1] // 2]
        picked = response[:, index]
        where = tuple(position) if position is not None else tuple(size // 2 for size in picked.shape[1:])
        if len(where) != picked.ndim - 1:
            raise ConfigError(
                f"The neuron of {layer!r}/{index} needs a position with {picked.ndim - 1} coordinates, got {list(where)}."
            )
        return picked[(slice(None), *where)].float()

    return value


def channel(target: str, index: int | None = None) -> Objective:
    """The mean of one channel over every position (and snippet): ``channel("motion/conv3_1/0017")``
    or ``channel("motion/conv3_1", 17)``. Reads the layer module's own output (before any ReLU
    that follows it); :func:`unit` is the atlas's rectified objective."""

    def bind(description: ModelDescription) -> Bound:
        info, unit_index = _address(description, target, index)
        return Bound((info.name,), _channel_value(info.name, unit_index))

    return Objective(bind, f"channel {_label(target, index)}")


def neuron(target: str, index: int | None = None, position: Sequence[int] | None = None) -> Objective:
    """One channel at one position: ``position`` indexes the axes after the channel (default:
    the centre of each, and the temporal centre of a tower's folded snippets)."""

    def bind(description: ModelDescription) -> Bound:
        info, unit_index = _address(description, target, index)
        return Bound((info.name,), _neuron_value(info.name, unit_index, position))

    return Objective(bind, f"neuron {_label(target, index)}")


def unit(target: str, index: int | None = None, objective: str = "centre") -> Objective:
    """A unit by the atlas's rule (:func:`generator.engine.objectives.objective_mode`): the
    centre neuron of a convolutional layer, the channel mean of a layer fed by several
    streams, the value of an fc or class unit."""

    def bind(description: ModelDescription) -> Bound:
        info, unit_index = _address(description, target, index)
        if info.kind not in ("fc", "class") and objective_mode(info, objective) == "mean":
            raw = _channel_value(info.name, unit_index)
        else:
            raw = _neuron_value(info.name, unit_index, () if info.kind in ("fc", "class") else None)
        return Bound((info.name,), _rectified(info, raw))

    return Objective(bind, _label(target, index))


def _rectified(
    info: LayerInfo, raw: Callable[[Responses, int], Tensor]
) -> Callable[[Responses, int], Tensor]:
    """``raw`` read from the layer's rectified response, as the atlas's objective is (method.md):
    the ReLU that follows the layer, leaking with the engine's slope so that a unit that is off
    still has a gradient (the engine lets the target's ReLU leak in every step the same way);
    class scores stay as they are."""
    slope = EngineSettings().leaky_slope

    def value(responses: Responses, batch: int) -> Tensor:
        return raw({**responses, info.name: info.rectify(responses[info.name], slope)}, batch)

    return value


def class_score(name: str | int) -> Objective:
    """The pre-softmax score of a class (its name or index) at the model's class layer."""

    def bind(description: ModelDescription) -> Bound:
        layers = [info for info in description.layers if info.kind == "class"]
        if not layers:
            raise ModelError(f"Model {description.name!r} registers no class layer.")
        info = layers[-1]
        names = tuple(info.unit_names or description.classes)
        if isinstance(name, str):
            if name not in names:
                raise ModelError(f"Unknown class {name!r}; classes are {', '.join(names)}.")
            found = names.index(name)
        else:
            found = _address(description, info.name, name)[1]
        return Bound((info.name,), _neuron_value(info.name, found, ()))

    return Objective(bind, f"class {name}")


def direction(layer: str, vector: Sequence[float] | Tensor) -> Objective:
    """The response projected onto ``vector`` in channel space, averaged over positions."""
    weights = torch.as_tensor(vector, dtype=torch.float32).flatten()

    def bind(description: ModelDescription) -> Bound:
        info = description.layer(layer)
        if info.units != weights.numel():
            raise ConfigError(
                f"direction({layer!r}) has {weights.numel()} components, but the layer has {info.units} units."
            )

        def value(responses: Responses, batch: int) -> Tensor:
            original = responses[layer]
            moved = rows(original, batch).float().movedim(_channel_axis(original, batch), -1)  # (B, ..., C)
            return (moved @ weights.to(moved.device)).reshape(batch, -1).mean(dim=1)

        return Bound((layer,), value)

    return Objective(bind, f"direction in {layer}")


def diversity(layer: str) -> Objective:
    """Minus the mean cosine similarity of each row's Gram matrix of ``layer`` to the other
    rows' (lucent's diversity): rewards a batch whose rows differ in style. It couples the
    rows of one engine batch, so use it with several seeds and ``batch_size`` >= 2."""

    def bind(description: ModelDescription) -> Bound:
        description.layer(layer)

        def value(responses: Responses, batch: int) -> Tensor:
            original = responses[layer]
            response = rows(original, batch)
            axis = _channel_axis(original, batch)
            flat = response.float().movedim(axis, 1).reshape(batch, response.shape[axis], -1)  # (B, C, N)
            gram = nn.functional.normalize((flat @ flat.transpose(1, 2)).reshape(batch, -1), dim=1)
            if batch < 2:
                return torch.zeros(batch, device=response.device)
            similarity = gram @ gram.T  # (B, B)
            return -(similarity.sum(dim=1) - similarity.diagonal()) / (batch - 1)

        return Bound((layer,), value)

    return Objective(bind, f"diversity of {layer}")


class ObjectiveNetwork(nn.Module):
    """The network with one output, the objective, at module ``objective_output`` (B, 1).

    ``transform`` (an nn.Module taking and returning the list of inputs) is applied to the
    inputs while gradients are recorded, i.e. during the optimisation steps and not in the
    final measurement, so that the reported activation is that of the untransformed clip.
    """

    def __init__(
        self,
        network: nn.Module,
        modules: Mapping[str, str],
        objective: Bound,
        transform: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.objective_output = nn.Identity()
        self.transform = transform
        self._modules_of = dict(modules)  # layer name -> module path inside ``network``
        self._objective = objective

    def forward(self, *inputs: Tensor) -> Tensor:
        if self.transform is not None and torch.is_grad_enabled():
            inputs = tuple(self.transform(list(inputs)))
        wanted = self._objective.layers
        # Once every layer the objective needs has answered, the rest of the network is skipped.
        with recording(
            self.network, {layer: self._modules_of[layer] for layer in wanted}, stop=True
        ) as responses:
            try:
                self.network(*inputs)
            except StopForward:
                pass
        missing = [layer for layer in wanted if layer not in responses]
        if missing:
            raise ModelError(
                f"The network's forward did not run the module(s) of layer(s) {', '.join(missing)}."
            )
        return self.objective_output(self._objective(responses, inputs[0].shape[0])[:, None])


def objective_network(
    network: nn.Module,
    description: ModelDescription,
    objective: Objective,
    transform: nn.Module | None = None,
) -> tuple[ObjectiveNetwork, ModelDescription]:
    """The wrapped network and its description, whose layer ``objective`` has one unit.

    The objective layer is registered as a class output (one pre-activation score, never
    rectified), fed by the streams of the layers it reads, with their largest stride (the
    jitter radius) and depth.
    """
    bound = objective.bind(description)
    infos = [description.layer(layer) for layer in bound.layers]
    if not infos:
        raise ConfigError("An objective must read at least one layer.")
    streams: tuple[str, ...] = ()
    if all(info.streams for info in infos):
        streams = tuple(dict.fromkeys(s for info in infos for s in info.streams))
    layer = LayerInfo(
        name=OBJECTIVE_LAYER,
        module=OBJECTIVE_MODULE,
        kind="class",
        units=1,
        stride=max(info.stride for info in infos),
        receptive_field=max(info.receptive_field for info in infos),
        depth=max(info.depth for info in infos) + 1,
        streams=streams,
        unit_names=(objective.name,),
    )
    # Registered layers keep their names, with module paths now inside the wrapper. Only the
    # layers read are kept when all are convolutional, so that the jitter radius (from the
    # convolutional layers of a class output's streams) is theirs; fc layers need the rest.
    convolutional = all(info.kind in ("conv2d", "conv3d") for info in infos)
    kept = infos if convolutional else description.layers
    moved = tuple(replace(info, module=f"network.{info.module}") for info in kept)
    wrapped = replace(description, layers=(*moved, layer))
    modules = {info.name: info.module for info in infos}
    return ObjectiveNetwork(network, modules, bound, transform), wrapped
