"""Forward capture (generator.zoo.capture), the one hook mechanism of the engine, the measures
and model discovery: what it records, where it stops the forward, and that no hook outlives it."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from generator.engine.truncate import TruncatedNetwork
from generator.errors import ModelError
from generator.zoo.capture import StopForward, hooked, recording


class Counting(nn.Module):
    """Doubles its input and counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return 2 * x


class Pair(nn.Module):
    """Returns a tuple whose first tensor is the response (as some video blocks do)."""

    def forward(self, x: Tensor) -> tuple[str, Tensor, Tensor]:
        return ("tag", x + 1, x - 1)


def network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 3), Pair(), nn.Identity(), Counting())


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_recording_holds_each_modules_response_and_leaves_no_hook() -> None:
    net = network()
    x = torch.randn(4, 3, requires_grad=True)
    with recording(net, {"linear": "0", "pair": "1"}, detach=True) as responses:
        net[2].register_forward_hook(lambda *_: None)  # someone else's hook is not touched
        net(x)
    linear = net[0](x)
    torch.testing.assert_close(responses["linear"], linear)
    torch.testing.assert_close(responses["pair"], linear + 1)  # the first tensor of the tuple
    assert not responses["linear"].requires_grad
    assert hooks_left(net) == 1 and net[3].calls == 1


def test_recording_stops_the_forward_once_every_module_has_run() -> None:
    net = network()
    with recording(net, {"linear": "0", "pair": "1"}, stop=True) as responses:
        with pytest.raises(StopForward):
            net(torch.randn(2, 3))
    assert net[3].calls == 0  # nothing after the last recorded module ran
    assert responses["pair"].requires_grad  # not detached: gradients reach the input
    assert hooks_left(net) == 0


def test_hooks_are_removed_when_the_forward_fails() -> None:
    net = network()
    with pytest.raises(RuntimeError, match="shape"), hooked([(net[3], lambda *_: None)]):
        net(torch.randn(2, 5))
    assert hooks_left(net) == 0
    with pytest.raises(ModelError, match="'9'"), recording(net, {"missing": "9"}):
        pass
    assert hooks_left(net) == 0


def test_a_truncated_network_runs_up_to_its_module_and_leaves_no_hook() -> None:
    net = network()
    x = torch.randn(2, 3)
    out = TruncatedNetwork(net, "1")(x)
    torch.testing.assert_close(out, net[0](x) + 1)
    assert net[3].calls == 0 and hooks_left(net) == 0
