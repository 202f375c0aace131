"""Forward capture: reading modules' outputs during a forward pass, with hooks that are always removed.

One mechanism in two layers:

* :func:`hooked` puts forward hooks on modules for the duration of a block and removes them in
  ``finally`` (hooks only on the modules that are read, never left behind);
* :func:`recording` builds on it: it records the response of each named module (its output,
  or the first tensor of a tuple output) in a dict, optionally detached, and can end the
  forward by raising :class:`StopForward` once every named module has run, so no later layer
  runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from generator.errors import ModelError

Hook = Callable[[nn.Module, Any, Any], None]


class StopForward(Exception):
    """Raised from a hook to end a forward pass once the responses it needs are recorded."""


def first_tensor(output: Any) -> Tensor:
    """The response of a module: its output, or the first tensor of a tuple/list output."""
    if isinstance(output, (tuple, list)):
        return next(o for o in output if isinstance(o, Tensor))
    return output


def module_at(model: nn.Module, module_path: str) -> nn.Module:
    """``model.get_submodule(module_path)``; a missing module is a ModelError naming it."""
    try:
        return model.get_submodule(module_path)
    except AttributeError as error:
        raise ModelError(
            f"The layer's module {module_path!r} does not exist in {type(model).__name__}: {error}. "
            "Check LayerInfo.module in the model description."
        ) from error


@contextmanager
def hooked(hooks: Iterable[tuple[nn.Module, Hook]]) -> Iterator[None]:
    """Register each ``(module, hook)`` forward hook for the block; all are removed on leaving it."""
    handles = []
    try:
        for module, hook in hooks:
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def recording(
    model: nn.Module, modules: Mapping[str, str], *, detach: bool = False, stop: bool = False
) -> Iterator[dict[str, Tensor]]:
    """Record the response of each module of ``modules`` (name -> module path in ``model``) under
    its name, in the dict the block receives; each forward overwrites it. ``stop``: raise
    :class:`StopForward` once every module has run (the caller catches it)."""
    responses: dict[str, Tensor] = {}

    def record(name: str) -> Hook:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            response = first_tensor(output)
            responses[name] = response.detach() if detach else response
            if stop and all(n in responses for n in modules):
                raise StopForward

        return hook

    with hooked([(module_at(model, path), record(name)) for name, path in modules.items()]):
        yield responses
