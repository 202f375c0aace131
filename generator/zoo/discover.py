"""Discover the layer registry of an arbitrary network by probing it once.

One forward pass (batch 1, CPU, float64) runs under a torch function mode that swaps
every convolution and linear map for a uniform positive average over its window,
normalization layers and dropout for the identity and max pooling for average pooling.
The weight values are never used or changed. Every value in that probe is positive,
so the input gradient of a unit is non-zero exactly on its receptive field: one backward
pass per layer gives the receptive field (extent along the height axis, clipped to the
input) and the streams (inputs with a non-zero gradient). Forward hooks on every Conv2d,
Conv3d and Linear module record units and the cumulative stride (input height / output
height).

With uniform weights all channels of a conv output are equal, so large feature maps are
carried as a single channel (the "compact" probe, cheap even for 3D nets at full size);
a model whose code needs the real channel count is probed again with every channel.
Ops outside the list above that use a parameter (e.g. a hand-written matmul with a
weight) make the probe fail; such a model should return its own ModelDescription.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from generator.errors import ModelError
from generator.zoo.capture import hooked
from generator.zoo.scores import ClassScores, default_class_names
from generator.zoo.spec import InputSpec, LayerInfo, LayerKind, ModelDescription

# A conv output is carried with all its channels only while that costs at most this many values.
_FULL_CHANNEL_LIMIT = 1 << 17
_PROBE_DTYPE = torch.float64

_CONVS = {torch.conv1d: F.conv1d, torch.conv2d: F.conv2d, torch.conv3d: F.conv3d}
_MAX_POOLS = {
    F.max_pool1d: F.conv1d,
    F.max_pool2d: F.conv2d,
    F.max_pool3d: F.conv3d,
    torch.max_pool1d: F.conv1d,
    torch.max_pool2d: F.conv2d,
    torch.max_pool3d: F.conv3d,
}
_ADAPTIVE_MAX_TO_AVG: dict[Callable[..., Any], Callable[..., Any]] = {
    F.adaptive_max_pool1d: F.adaptive_avg_pool1d,
    F.adaptive_max_pool2d: F.adaptive_avg_pool2d,
    F.adaptive_max_pool3d: F.adaptive_avg_pool3d,
}
_AVG_POOLS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_IDENTITIES = {
    F.batch_norm,
    F.instance_norm,
    F.group_norm,
    F.layer_norm,
    F.local_response_norm,
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    F.feature_alpha_dropout,
}


def _arguments(names: Sequence[str], defaults: dict[str, Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = dict(defaults)
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


def _box_average(
    x: torch.Tensor,
    kernel: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    conv: Callable[..., torch.Tensor],
    extra: Sequence[int] = (),
) -> torch.Tensor:
    """Per-channel mean over each window (zero padding; ``extra`` zeros added at the far ends).

    Average pooling on an explicitly padded input where possible (several times faster
    than a one-channel convolution); a depthwise convolution for dilated windows.
    """
    dims = len(kernel)
    stride, dilation = _tuple(stride, dims), _tuple(dilation, dims)
    if isinstance(padding, str):
        totals = [0 if padding == "valid" else d * (k - 1) for k, d in zip(kernel, dilation)]
        pairs = [(t // 2, t - t // 2) for t in totals]
    else:
        pairs = [(p, p) for p in _tuple(padding, dims)]
    pairs = [(lo, hi + e) for (lo, hi), e in zip(pairs, list(extra) or [0] * dims)]
    pad = [v for pair in reversed(pairs) for v in pair]
    padded = F.pad(x, pad) if any(pad) else x
    if all(d == 1 for d in dilation) and all(p >= k for p, k in zip(padded.shape[2:], kernel)):
        return _AVG_POOLS[dims](padded, kernel, stride)
    channels = x.shape[1]
    weight = torch.full((channels, 1, *kernel), 1.0 / math.prod(kernel), dtype=x.dtype, device=x.device)
    return conv(padded, weight, None, stride, 0, dilation, channels)


def _uniform_conv(
    conv: Callable[..., torch.Tensor], args: tuple, kwargs: dict, compact: bool
) -> torch.Tensor:
    """A convolution whose weights all equal 1 / kernel size."""
    a = _arguments(
        ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
        {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1},
        args,
        kwargs,
    )
    x, weight, groups = a["input"], a["weight"], int(a["groups"])
    out_channels, in_per_group, kernel = weight.shape[0], weight.shape[1], tuple(weight.shape[2:])
    n, spatial = x.shape[0], x.shape[2:]
    if x.shape[1] == in_per_group * groups:
        grouped = x.reshape(n, groups, in_per_group, *spatial).mean(dim=2)
    else:  # a compact input: its channels no longer line up with the groups
        grouped, groups = x.mean(dim=1, keepdim=True), 1
    y = _box_average(grouped, kernel, a["stride"], a["padding"], a["dilation"], conv)
    if compact and out_channels * y[0, 0].numel() > _FULL_CHANNEL_LIMIT:
        return y.mean(dim=1, keepdim=True) if groups > 1 else y
    per_group = out_channels // groups
    # Materialised (not an expanded view) so that later in-place ops behave as on a real output.
    return (
        y.unsqueeze(2)
        .expand(n, groups, per_group, *y.shape[2:])
        .reshape(n, out_channels, *y.shape[2:])
        .contiguous()
    )


def _uniform_linear(args: tuple, kwargs: dict) -> torch.Tensor:
    a = _arguments(("input", "weight", "bias"), {"bias": None}, args, kwargs)
    x, out_features = a["input"], a["weight"].shape[0]
    return x.mean(dim=-1, keepdim=True).expand(*x.shape[:-1], out_features).contiguous()


def _tuple(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else (int(value),) * dims


def _average_pool(
    func: Callable[..., Any], conv: Callable[..., torch.Tensor], args: tuple, kwargs: dict
) -> torch.Tensor:
    """Max pooling replaced by a uniform average over the same windows (same output shape)."""
    a = _arguments(
        ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
        {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False},
        args,
        kwargs,
    )
    if a["return_indices"]:
        raise ModelError(
            "Layer discovery cannot follow max pooling that returns indices; describe the model explicitly."
        )
    x = a["input"]
    dims = x.dim() - 2
    kernel = _tuple(a["kernel_size"], dims)
    stride = _tuple(a["stride"], dims) if a["stride"] not in (None, [], ()) else kernel
    padding, dilation = _tuple(a["padding"], dims), _tuple(a["dilation"], dims)
    expected = func(x.detach(), kernel, stride, padding, dilation, a["ceil_mode"]).shape[2:]
    # ceil_mode's extra windows start inside the input: zeros at the far end supply them.
    extra = [
        max(0, out - ((size + 2 * p - d * (k - 1) - 1) // s + 1)) * s
        for size, out, k, s, p, d in zip(x.shape[2:], expected, kernel, stride, padding, dilation)
    ]
    y = _box_average(x, kernel, stride, padding, dilation, conv, extra)
    return y[(slice(None), slice(None), *(slice(0, e) for e in expected))]


class _UniformProbe(TorchFunctionMode):
    """Replaces parameterized and masking ops by positive, weight-free equivalents."""

    def __init__(self, compact: bool) -> None:
        super().__init__()
        self.compact = compact

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        kwargs = kwargs or {}
        if func in _CONVS:
            return _uniform_conv(_CONVS[func], args, kwargs, self.compact)
        if func is F.linear:
            return _uniform_linear(args, kwargs)
        if func in _MAX_POOLS:
            return _average_pool(func, _MAX_POOLS[func], args, kwargs)
        if func in _ADAPTIVE_MAX_TO_AVG:
            a = _arguments(("input", "output_size", "return_indices"), {}, args, kwargs)
            return _ADAPTIVE_MAX_TO_AVG[func](a["input"], a["output_size"])
        if func in _IDENTITIES:
            # A copy, as the real op returns: an in-place op after it must not alter its input.
            return (args[0] if args else kwargs["input"]).clone()
        return func(*args, **kwargs)


@dataclass(eq=False)  # compared by identity: fields hold tensors
class _Record:
    name: str
    kind: LayerKind
    units: int
    output: torch.Tensor
    arguments: tuple[Any, ...] = ()


def _probe_kind(module: nn.Module) -> LayerKind | None:
    if isinstance(module, ClassScores):
        return "class"
    if isinstance(module, nn.Conv3d):
        return "conv3d"
    if isinstance(module, nn.Conv2d):
        return "conv2d"
    if isinstance(module, nn.Linear):
        return "fc"
    return None


def _units(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, (nn.Conv2d, nn.Conv3d)):
        return int(module.out_channels)
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    return int(output.shape[-1])


@dataclass(eq=False)
class _Probe:
    records: list[_Record]
    inputs: list[torch.Tensor]
    output: torch.Tensor


def _run_probe(model: nn.Module, inputs: Sequence[InputSpec], compact: bool) -> _Probe:
    records: dict[str, _Record] = {}

    def hook_for(name: str, kind: LayerKind) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            # A module called twice (shared weights) is described by its first call.
            if isinstance(output, torch.Tensor) and name not in records:
                arguments = tuple(args) if kind == "class" else ()
                records[name] = _Record(name, kind, _units(module, output), output, arguments)

        return hook

    probe_inputs = [torch.ones((1, *spec.shape), dtype=_PROBE_DTYPE, requires_grad=True) for spec in inputs]
    hooks = [
        (module, hook_for(name, kind))
        for name, module in model.named_modules()
        if name and (kind := _probe_kind(module)) is not None
    ]
    with hooked(hooks), torch.enable_grad(), _UniformProbe(compact):
        output = model(*probe_inputs)
    if not isinstance(output, torch.Tensor) or output.dim() != 2 or output.shape[0] != 1:
        raise ModelError(
            f"{type(model).__name__} must return class scores shaped (B, num_classes); the probe got "
            f"{type(output).__name__} {tuple(getattr(output, 'shape', ()))}."
        )
    return _Probe(list(records.values()), probe_inputs, output)


def _probe(model: nn.Module, inputs: Sequence[InputSpec], classes: Sequence[str] | None) -> _Probe:
    """The compact probe, or the full one where the model's code needs every channel."""
    try:
        probe = _run_probe(model, inputs, compact=True)
        if classes is None or probe.output.shape[1] == len(classes):
            return probe
    except ModelError:
        raise
    except Exception:  # noqa: BLE001, S110 - the full probe below reports the real problem
        pass
    try:
        return _run_probe(model, inputs, compact=False)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure is reported as a model problem
        raise ModelError(
            f"Cannot discover the layers of {type(model).__name__}: the probe forward pass with inputs "
            f"{[(s.name, (1, *s.shape)) for s in inputs]} failed ({type(error).__name__}: {error}). Check the "
            "InputSpecs, or return a ModelDescription from the model function instead."
        ) from error


def _centre(output: torch.Tensor, kind: LayerKind) -> torch.Tensor:
    """The sum over channels (and folded batch rows) of the response at the spatio-temporal centre."""
    if kind in ("fc", "class") or output.dim() < 3:
        return output.sum()
    centre = tuple(size // 2 for size in output.shape[2:])
    return output[(slice(None), slice(None), *centre)].sum()


def _extent(gradient: torch.Tensor) -> int:
    """Number of rows (height axis, dim 3 of (1, C, T, H, W)) between the first and last non-zero."""
    rows = gradient.abs().sum(dim=(0, 1, 2, 4)).nonzero().flatten()
    return int(rows.max() - rows.min() + 1) if rows.numel() else 0


def discover_layers(
    model: nn.Module,
    inputs: Sequence[InputSpec],
    classes: Sequence[str] | None = None,
    *,
    strip_prefix: str = "",
) -> tuple[LayerInfo, ...]:
    """The registry of ``model``: every Conv2d, Conv3d and Linear module, in execution order.

    Names are module paths (``strip_prefix`` removed). The class layer, named "class", is
    the last ``ClassScores`` module if there is one, else the last Linear whose output is
    the model's output, else the model's output itself (module path "", the whole network).
    Only a layer whose output tensor is fed straight into a ClassScores module is not listed
    separately; ``describe_by_probe`` records a note for every module not listed and why.
    ``model`` is not modified (hooks are removed).
    """
    return _discover(model, inputs, classes, strip_prefix)[0]


def describe_by_probe(
    name: str,
    model: nn.Module,
    inputs: Sequence[InputSpec],
    classes: Sequence[str] | None = None,
    *,
    strip_prefix: str = "",
) -> ModelDescription:
    """A ModelDescription whose layers come from ``discover_layers``; classes default to
    placeholder names, one per output score."""
    layers, names, notes = _discover(model, inputs, classes, strip_prefix)
    return ModelDescription(name, tuple(inputs), layers, names, notes)


def _discover(
    model: nn.Module, inputs: Sequence[InputSpec], classes: Sequence[str] | None, strip_prefix: str
) -> tuple[tuple[LayerInfo, ...], tuple[str, ...], tuple[str, ...]]:
    if not inputs:
        raise ModelError("Layer discovery needs at least one InputSpec.")
    probe = _probe(model, inputs, classes)
    records, output = probe.records, probe.output
    num_classes = int(output.shape[1])
    names = tuple(classes) if classes is not None else default_class_names(num_classes)
    if len(names) != num_classes:
        raise ModelError(
            f"{type(model).__name__} returns {num_classes} class scores but {len(names)} class names were given."
        )

    notes = [
        f"{name} ({type(module).__name__}): not listed, it did not run in the forward pass (or returned no tensor)"
        for name, module in model.named_modules()
        if name and _probe_kind(module) is not None and all(r.name != name for r in records)
    ]
    class_index = _class_index(records, output)
    if class_index is None:
        # No marked or returned module holds the scores: the network's own output is the class layer.
        scores = _Record("", "class", num_classes, output)
        ordered = [*(r for r in records if r.kind != "class"), scores]
        notes.append(
            f"class: the network's output ({num_classes} scores) computed after its last layer; "
            "registered on the whole network"
        )
    else:
        scores = records[class_index]
        body = [r for r in records[:class_index] if r.kind != "class"]
        kept, fed = _without_classifiers(body, scores)
        ordered = [*kept, scores]
        notes.extend(
            f"{_strip(r.name, strip_prefix)} ({r.units} units): not listed, its output is the class scores "
            f"registered as 'class' ({scores.name})"
            for r in fed
        )
        notes.extend(
            f"{_strip(r.name, strip_prefix)}: not listed, it runs after the class scores ({scores.name})"
            for r in records[class_index + 1 :]
        )
        notes.extend(
            f"{_strip(r.name, strip_prefix)}: not listed, an earlier ClassScores module ({scores.name} is the class layer)"
            for r in records[:class_index]
            if r.kind == "class"
        )
        if scores.kind != "class":
            notes.append(f"class: the output of {scores.name} ({num_classes} units), the network's output")

    height = max(spec.height for spec in inputs)
    layers: list[LayerInfo] = []
    for depth, record in enumerate(ordered, 1):
        gradients = torch.autograd.grad(
            _centre(record.output, record.kind), probe.inputs, retain_graph=True, allow_unused=True
        )
        used = [i for i, g in enumerate(gradients) if g is not None and bool(g.abs().sum() > 0)]
        spatial = record.kind in ("conv2d", "conv3d") and record.output.dim() >= 4
        is_class = record is scores
        input_height = max((inputs[i].height for i in used), default=height)
        layers.append(
            LayerInfo(
                name="class" if is_class else _strip(record.name, strip_prefix),
                module=record.name,
                kind="class" if is_class else record.kind,
                units=num_classes if is_class else record.units,
                stride=max(1, round(input_height / record.output.shape[-2])) if spatial else 1,
                # The rows of the input the unit's response depends on: measured for every kind,
                # so a class output that sees only a crop of the input says so.
                receptive_field=max((_extent(gradients[i]) for i in used), default=0),
                depth=depth,
                streams=tuple(inputs[i].name for i in used),
                unit_names=names if is_class else None,
            )
        )
    return tuple(layers), names, tuple(notes)


def _without_classifiers(body: list[_Record], scores: _Record) -> tuple[list[_Record], list[_Record]]:
    """(kept, dropped): a layer is dropped only when its output tensor itself is fed to the
    ClassScores module, i.e. it holds nothing but the class scores already registered as "class".
    A layer that merely has as many units as there are classes is a real layer and is kept."""
    if scores.kind != "class":
        return body, []
    fed = [r for r in body if any(r.output is argument for argument in scores.arguments)]
    return [r for r in body if all(r is not f for f in fed)], fed


def _class_index(records: Sequence[_Record], output: torch.Tensor) -> int | None:
    """The last ClassScores module, else the last Linear whose output tensor is the network's output."""
    scores = [i for i, r in enumerate(records) if r.kind == "class"]
    if scores:
        return scores[-1]
    for i in reversed(range(len(records))):
        r = records[i]
        if (
            r.kind == "fc"
            and r.output.shape == output.shape
            and (r.output is output or torch.equal(r.output, output))
        ):
            return i
    return None


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name
