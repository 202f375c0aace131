"""Capturing a layer's response and cutting the forward pass there.

A forward hook on the target module stores its output and raises ``StopForward``: no
layer after the target runs, so deep heads cost nothing when an early layer is
visualised. The hook is always removed in ``finally``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from generator.errors import ModelError


class StopForward(Exception):
    """Raised by the capture hook once the target layer has produced its output."""


class Capture:
    """Holds the last captured response; ``hook`` is the forward hook that fills it."""

    def __init__(self) -> None:
        self.response: Tensor | None = None

    def hook(self, module: nn.Module, args: Any, output: Any) -> None:
        # Some modules return tuples; the response is their first tensor.
        if isinstance(output, (tuple, list)):
            output = next(o for o in output if isinstance(o, Tensor))
        self.response = output
        raise StopForward


@contextmanager
def cut_at(model: nn.Module, module_path: str) -> Iterator[Capture]:
    """Hook ``model.get_submodule(module_path)`` for the duration of the block."""
    try:
        target = model.get_submodule(module_path)
    except AttributeError as error:
        raise ModelError(
            f"The layer's module {module_path!r} does not exist in {type(model).__name__}: {error}. "
            "Check LayerInfo.module in the model description."
        ) from error
    capture = Capture()
    handle = target.register_forward_hook(capture.hook)
    try:
        yield capture
    finally:
        handle.remove()


def forward_to(forward: Callable[..., Any], inputs: Sequence[Tensor], capture: Capture) -> Tensor:
    """Run ``forward(*inputs)`` until the hooked layer and return its response."""
    capture.response = None
    try:
        forward(*inputs)
    except StopForward:
        pass
    response, capture.response = capture.response, None
    if response is None:
        raise ModelError(
            "The model's forward finished without running the layer's module; the model "
            "description names a module that the forward pass does not use."
        )
    return response
