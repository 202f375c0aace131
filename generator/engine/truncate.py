"""A network cut at one module that returns that module's output: what ``torch.compile`` compiles.

Eagerly, the forward stops at the target module by raising :class:`StopForward` from a
forward hook, so no later layer runs. TorchDynamo cannot trace an exception that ends the
forward (it would split the model into dozens of small graphs), so while compiling the
hook only records the output and the forward runs on: the compiled graph returns the
recorded output, and every operation after the target, having no use, is dropped from the
graph as dead code. Either way a call returns the output of the target module: the module
a layer names, or any other, such as the activation after it (the rectified response).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from generator.errors import ModelError
from generator.zoo.capture import StopForward, first_tensor, hooked, module_at


class TruncatedNetwork:
    """``model`` run up to ``module_path``: ``network(*inputs)`` returns that module's output.

    The hook is on the target module only while a call runs, so several truncated networks
    of one model (one per layer) never see each other's hooks, and ``model`` is left as it
    was between calls.
    """

    def __init__(
        self, model: nn.Module, module_path: str, compile_options: dict[str, Any] | None = None
    ) -> None:
        self.target = module_at(model, module_path)
        self.model = model
        self.module_path = module_path
        self.compiled = compile_options is not None
        self._response: list[Tensor] = []
        self._hook = self._record  # one bound method: the hook is the same object at every call
        self._run: Callable[..., None] = self._forward_all
        if compile_options is not None:
            self._run = torch.compile(own_code_copy(self._forward_all), **compile_options)

    def _record(self, module: nn.Module, args: Any, output: Any) -> None:
        self._response.append(first_tensor(output))
        if not torch.compiler.is_compiling():
            raise StopForward

    def _forward_all(self, *inputs: Tensor) -> Tensor | None:
        # Compiled: the graph's output is the recorded response; the rest is dead code.
        self.model(*inputs)
        return self._response[0] if self._response else None

    def __call__(self, *inputs: Tensor) -> Tensor:
        self._response.clear()
        try:
            with hooked([(self.target, self._hook)]):
                response = self._run(*inputs)
        except StopForward:
            response = self._response[0]
        finally:
            self._response.clear()  # hold no activation beyond the call
        if response is None:
            raise ModelError(
                "The model's forward finished without running the layer's module; the model "
                "description names a module that the forward pass does not use."
            )
        return response


def own_code_copy(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (or bound method) with a private copy of its code object.

    TorchDynamo keeps compiled graphs per code object and stops compiling one after 8
    recompiles; every layer's cut is another graph, so a shared code object would fall
    back to eager after 8 layers. A copy per truncated network keeps their caches apart.
    """
    bound = function.__self__ if isinstance(function, types.MethodType) else None
    plain = function.__func__ if isinstance(function, types.MethodType) else function
    copy = types.FunctionType(
        plain.__code__.replace(), plain.__globals__, plain.__name__, plain.__defaults__, plain.__closure__
    )
    copy.__kwdefaults__ = plain.__kwdefaults__
    return copy if bound is None else types.MethodType(copy, bound)
