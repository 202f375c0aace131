"""Where and how the network runs: a private leaky copy on the device, precision, memory layout.

Nothing here is global: the device travels inside :class:`PreparedModel`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from generator.engine.settings import EngineSettings
from generator.zoo.activations import ReLU, with_negative_slope

# Rows per batch on the CPU when the settings leave it open: large enough to amortise the
# Python overhead of a step, small enough for the VGG-16 fusion net in a few GiB.
CPU_BATCH_SIZE = 16
# Largest automatic batch on CUDA, and the fraction of free memory it may plan to use.
MAX_AUTO_BATCH = 256
MEMORY_FRACTION = 0.8


@dataclass(frozen=True)
class PreparedModel:
    """A private copy of a model ready for optimisation; the caller's model is never touched.

    ``module`` has leaky ReLUs (slope ``leaky_slope``), is in eval mode, has frozen
    parameters and lives on ``device``; ``forward`` is the module or its compiled form.
    ``relu_slopes`` lists, per activation module of the copy, the slope it has in the
    caller's model, so that final activations can be measured with the real network.
    """

    module: nn.Module
    forward: Callable[..., Any]
    device: torch.device
    leaky_slope: float
    relu_slopes: tuple[tuple[str, float], ...]
    channels_last: bool


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, (ReLU, nn.LeakyReLU))


def resolve_device(device: torch.device | str) -> torch.device:
    """``device`` with an explicit index for CUDA ("cuda" -> "cuda:<current>"), so devices compare."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def prepare_model(model: nn.Module, settings: EngineSettings, device: torch.device | str) -> PreparedModel:
    """Copy ``model`` with leaky ReLUs onto ``device`` (eval mode, no parameter gradients)."""
    device = resolve_device(device)
    originals = dict(model.named_modules())
    module = with_negative_slope(model, settings.leaky_slope)  # a deep copy
    slopes = []
    for name, child in module.named_modules():
        if _is_activation(child):
            original = originals.get(name)
            slopes.append((name, float(getattr(original, "negative_slope", 0.0))))
    module.eval()
    module.requires_grad_(False)
    module.to(device)
    # channels-last pays on the CPU as well: measured on 2 cores with the default model,
    # oneDNN's max pooling runs ~6x and its convolutions ~1.7x faster than in NCHW, and a
    # whole optimisation step 1.3-1.5x.
    channels_last = settings.channels_last
    if channels_last:
        for p in module.parameters():
            if p.ndim == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
            elif p.ndim == 5:
                p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    forward: Callable[..., Any] = module
    if settings.compile:
        forward = torch.compile(module)
    return PreparedModel(module, forward, device, settings.leaky_slope, tuple(slopes), channels_last)


@contextlib.contextmanager
def own_relus(prepared: PreparedModel) -> Iterator[nn.Module]:
    """Temporarily give the private copy the ReLU slopes of the caller's model."""
    modules = dict(prepared.module.named_modules())
    try:
        for name, slope in prepared.relu_slopes:
            modules[name].negative_slope = slope
        yield prepared.module
    finally:
        for name, _ in prepared.relu_slopes:
            modules[name].negative_slope = prepared.leaky_slope


def use_bf16(settings: EngineSettings, device: torch.device) -> bool:
    """bf16 autocast: "auto" means on CUDA (when the card supports it), float32 elsewhere."""
    if settings.precision == "bf16":
        return True
    if settings.precision == "fp32":
        return False
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def to_layout(x: Tensor, channels_last: bool) -> Tensor:
    """channels_last(_3d) on request."""
    if not channels_last:
        return x
    if x.ndim == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def cuda_batch_size(per_row_bytes: float, device: torch.device, n_rows: int) -> int:
    """Rows that fit in MEMORY_FRACTION of the memory still available on ``device``."""
    free, _ = torch.cuda.mem_get_info(device)
    reusable = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    budget = MEMORY_FRACTION * (free + reusable)
    size = int(budget // max(per_row_bytes, 1.0))
    return max(1, min(size, n_rows, MAX_AUTO_BATCH))


def warn_compile_fallback(error: Exception) -> None:
    warnings.warn(
        f"torch.compile could not run the cut forward pass ({type(error).__name__}: {error}); "
        "continuing without compilation.",
        RuntimeWarning,
        stacklevel=3,
    )
