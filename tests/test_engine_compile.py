"""The engine's GPU path checked on the CPU: the compiled truncated network, OOM halving, numerics.

Compilation uses TorchDynamo with the "eager"/"aot_eager" backends (graph capture and the
autograd split without code generation) on tiny networks, so these tests stay fast.
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
from torch import nn
from torch._dynamo.testing import CompileCounterWithBackend
from torch._dynamo.utils import counters

from generator.engine import EngineSettings, prepare_model, visualize_layer
from generator.engine.runtime import available_cuda_memory, cuda_batch_size, numerics, use_bf16
from generator.engine.slopes import PhaseReLU, set_leaking, with_phase_relus
from generator.engine.truncate import TruncatedNetwork
from generator.zoo.activations import ReLU
from tests.test_engine import direction_model


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    counters.clear()
    yield
    torch.set_num_threads(threads)


class Stack(nn.Module):
    """conv -> ReLU -> conv -> LeakyReLU(0.1) -> linear head, on (B, C, T, H, W) folded over T."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.relu1 = ReLU()
        self.conv2 = nn.Conv2d(4, 5, 3)
        self.relu2 = nn.LeakyReLU(0.1)
        self.head = nn.Linear(5, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.relu2(self.conv2(self.relu1(self.conv1(x.transpose(1, 2).reshape(b * t, c, h, w)))))
        return self.head(y.mean((2, 3)))


def graph_recorder() -> tuple[list[torch.fx.GraphModule], object]:
    """An aot_eager-like backend that keeps the forward graphs AOTAutograd produces."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    forward_graphs: list[torch.fx.GraphModule] = []

    def keep(gm: torch.fx.GraphModule, _: object) -> object:
        forward_graphs.append(gm)
        return make_boxed_func(gm)

    return forward_graphs, aot_autograd(fw_compiler=keep, bw_compiler=lambda gm, _: make_boxed_func(gm))


def aten_ops(gm: torch.fx.GraphModule) -> list[str]:
    return [str(n.target) for n in gm.graph.nodes if n.op == "call_function"]


# ----------------------------------------------------------------------------------------
# Activations that switch phase


def test_phase_relus_keep_each_activations_own_slope() -> None:
    model = with_phase_relus(Stack(), 0.05)
    relus = {name: m for name, m in model.named_modules() if isinstance(m, PhaseReLU)}
    assert {n: (m.own_slope, m.leaky_slope) for n, m in relus.items()} == {
        "relu1": (0.0, 0.05),
        "relu2": (0.1, 0.05),
    }
    x = torch.tensor([-2.0, 3.0])
    assert torch.equal(model.relu2(x), torch.tensor([-0.1, 3.0]))
    set_leaking(model, False)
    assert torch.equal(model.relu1(x), torch.tensor([0.0, 3.0])) and torch.allclose(
        model.relu2(x), torch.tensor([-0.2, 3.0])
    )
    assert float(model.relu2.slope) == pytest.approx(0.1)


# ----------------------------------------------------------------------------------------
# The compiled truncated network


@pytest.mark.parametrize("cut, convolutions", [("conv1", 1), ("relu2", 2)])
def test_truncated_network_compiles_to_one_graph_for_both_phases(cut: str, convolutions: int) -> None:
    model = with_phase_relus(Stack(), 0.05).requires_grad_(False)
    graphs, backend = graph_recorder()
    counter = CompileCounterWithBackend(backend)
    compiled = TruncatedNetwork(model, cut, {"backend": counter})
    eager = TruncatedNetwork(model, cut)
    x = torch.randn(2, 3, 2, 8, 8, requires_grad=True)
    responses = {}
    for leaking in (True, False, True, False):
        set_leaking(model, leaking)
        got, want = compiled(x), eager(x)
        (grad_got,) = torch.autograd.grad(got.square().sum(), x)
        (grad_want,) = torch.autograd.grad(want.square().sum(), x)
        assert torch.allclose(got, want, atol=1e-6) and torch.allclose(grad_got, grad_want, atol=1e-5)
        responses[leaking] = got.detach()
    assert counter.frame_count == 1  # one graph: no graph break, no recompile between phases
    assert not counters["graph_break"]
    ops = aten_ops(graphs[0])
    # The graph is the truncated forward: the layers after the cut are gone.
    assert ops.count("aten.convolution.default") == convolutions
    assert not any(op.startswith(("aten.addmm", "aten.mm", "aten.mean")) for op in ops)
    if cut == "relu2":
        # The rectified response, with each phase's slopes: the network's own, then leaky.
        plain = Stack()
        folded = x.detach().transpose(1, 2).reshape(4, 3, 8, 8)
        own = nn.functional.leaky_relu(plain.conv2(nn.functional.relu(plain.conv1(folded))), 0.1)
        leaky = nn.functional.leaky_relu(
            plain.conv2(nn.functional.leaky_relu(plain.conv1(folded), 0.05)), 0.05
        )
        assert torch.allclose(responses[False], own, atol=1e-6) and torch.allclose(
            responses[True], leaky, atol=1e-6
        )
    else:
        assert torch.equal(responses[True], responses[False])  # before any activation


def test_each_layer_keeps_its_own_graph_cache() -> None:
    """More layers than TorchDynamo's recompile limit (8), each cut compiled once."""
    model = nn.Sequential(*[nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU()) for _ in range(10)])
    model = with_phase_relus(model, 0.05).requires_grad_(False)
    counter = CompileCounterWithBackend("eager")
    networks = [TruncatedNetwork(model, f"{i}.1", {"backend": counter}) for i in range(10)]
    x = torch.randn(1, 2, 3, 3)
    for _ in range(2):
        for i, network in enumerate(networks):
            assert torch.allclose(network(x), TruncatedNetwork(model, f"{i}.1")(x))
    assert counter.frame_count == 10 and not counters["graph_break"]
    assert not any(m._forward_hooks for m in model.modules())  # hooks only live during a call


# ----------------------------------------------------------------------------------------
# The compiled engine


def strict(**changes: object) -> EngineSettings:
    return EngineSettings(**{"steps": 6, "leaky_fraction": 0.5, "precision": "fp32", **changes})  # type: ignore[arg-type]


def test_compiled_engine_matches_eager_in_strict_fp32_without_breaks_or_recompiles() -> None:
    model, desc = direction_model()
    args = (desc, "motion/conv", [0, 1], [1.0, 5.0], [0])
    eager = visualize_layer(model, *args, strict(batch_size=2), "cpu")
    counter = CompileCounterWithBackend("eager")
    prepared = prepare_model(model, strict(compile=True), "cpu", compile_backend=counter)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to eager
        first = visualize_layer(prepared, *args, strict(compile=True, batch_size=2), "cpu")
        again = visualize_layer(prepared, *args, strict(compile=True, batch_size=2), "cpu")
    # Sites: the network, and per input (2) its regularisers and its update: each compiled once
    # over two calls, two batches each and both ReLU phases.
    assert counter.frame_count == 5
    assert not counters["graph_break"]
    for a, b, c in zip(eager, first, again):
        assert b.activation == pytest.approx(a.activation, rel=1e-4)
        assert torch.allclose(
            torch.from_numpy(b.inputs["motion"]), torch.from_numpy(a.inputs["motion"]), atol=1e-2
        )
        assert b.activation == c.activation
    # Another batch size: at most one recompilation per site (the batch axis becomes dynamic).
    visualize_layer(
        prepared, desc, "motion/conv", [0, 1], [1.0, 5.0, 9.0], [0], strict(compile=True, batch_size=3), "cpu"
    )
    assert counter.frame_count <= 10 and not counters["graph_break"]


class MemoryCap(nn.Module):
    """Raises CUDA's out-of-memory error for batches above ``rows`` (an injected OOM)."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _allocate(self, x)


@torch.compiler.disable
def _allocate(cap: MemoryCap, x: torch.Tensor) -> torch.Tensor:
    cap.seen.append(x.shape[0])
    if x.shape[0] > cap.rows:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
    return x


class Capped(nn.Module):
    def __init__(self, inner: nn.Module, rows: int) -> None:
        super().__init__()
        self.inner = inner
        self.cap = MemoryCap(rows)

    def forward(self, app: torch.Tensor, mot: torch.Tensor) -> torch.Tensor:
        return self.inner(app, self.cap(mot))


@pytest.mark.parametrize("compiled", [False, True])
def test_out_of_memory_halves_the_batch_and_the_plan_is_kept(compiled: bool) -> None:
    model, desc = direction_model()
    reference = visualize_layer(
        model, desc, "motion/conv", [0, 1], [1.0, 2.0], [0, 1], strict(batch_size=8), "cpu"
    )
    capped = Capped(model, rows=2)
    desc = dataclasses.replace(
        desc,
        layers=tuple(dataclasses.replace(layer, module=f"inner.{layer.module}") for layer in desc.layers),
    )
    settings = strict(batch_size=8, compile=compiled)
    prepared = prepare_model(capped, settings, "cpu", compile_backend=CompileCounterWithBackend("eager"))
    cap = prepared.module.cap
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an OOM is no compile failure
        results = visualize_layer(prepared, desc, "motion/conv", [0, 1], [1.0, 2.0], [0, 1], settings, "cpu")
    assert prepared.memory.max_rows["motion/conv"] == 2  # 8 -> 4 -> 2, kept for the run
    assert prepared.memory.compile_failure is None
    assert cap.seen[:2] == [8, 4] and set(cap.seen[2:]) == {2}
    for a, b in zip(reference, results):
        assert (a.unit, a.chi, a.seed) == (b.unit, b.chi, b.seed)
        assert b.activation == pytest.approx(a.activation, rel=1e-4)
    # The next call on the layer starts at the halved size: no new out-of-memory error.
    cap.seen.clear()
    visualize_layer(prepared, desc, "motion/conv", [0, 1], [1.0], [0], settings, "cpu")
    assert set(cap.seen) == {2}


def test_a_compile_failure_falls_back_to_eager_once() -> None:
    def broken(gm: torch.fx.GraphModule, example: object) -> object:
        raise RuntimeError("this backend cannot compile")

    model, desc = direction_model()
    prepared = prepare_model(model, strict(compile=True), "cpu", compile_backend=broken)
    with pytest.warns(RuntimeWarning, match="continuing without compilation"):
        results = visualize_layer(prepared, desc, "motion/conv", [0], [1.0], [0], strict(compile=True), "cpu")
    eager = visualize_layer(model, desc, "motion/conv", [0], [1.0], [0], strict(), "cpu")
    assert prepared.memory.compile_failure and results[0].activation == pytest.approx(
        eager[0].activation, rel=1e-5
    )


# ----------------------------------------------------------------------------------------
# Numerics and memory planning (CUDA flags can be set and read without a card)


def test_numerics_make_fp32_strict_on_cuda_and_restore_the_flags() -> None:
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = (torch.backends.cudnn.benchmark, conv.fp32_precision, matmul.fp32_precision)
    with numerics(torch.device("cuda", 0), bf16=False):
        assert torch.backends.cudnn.benchmark and conv.fp32_precision == "ieee" == matmul.fp32_precision
    assert (torch.backends.cudnn.benchmark, conv.fp32_precision, matmul.fp32_precision) == before
    with numerics(torch.device("cuda", 0), bf16=True):
        assert torch.backends.cudnn.benchmark and conv.fp32_precision == before[1]
    with numerics(torch.device("cpu"), bf16=False):
        assert (torch.backends.cudnn.benchmark, conv.fp32_precision, matmul.fp32_precision) == before


def test_bf16_auto_asks_the_chosen_card(monkeypatch: pytest.MonkeyPatch) -> None:
    capability = {0: (7, 5), 1: (9, 0)}  # a Turing card as the current one, a Hopper card chosen
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda device: capability[torch.device(device).index]
    )
    auto = EngineSettings()
    assert use_bf16(auto, torch.device("cuda", 1)) and not use_bf16(auto, torch.device("cuda", 0))
    assert not use_bf16(auto, torch.device("cpu")) and use_bf16(
        auto.replace(precision="bf16"), torch.device("cpu")
    )


def test_batch_plan_respects_a_per_process_memory_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    gib = 1 << 30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (70 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 2 * gib)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 3 * gib)
    monkeypatch.setattr(torch.cuda, "get_per_process_memory_fraction", lambda device: 0.25)
    device = torch.device("cuda", 0)
    assert available_cuda_memory(device) == 18 * gib  # 25 % of 80 GiB less the 2 GiB in use
    monkeypatch.setattr(torch.cuda, "get_per_process_memory_fraction", lambda device: 1.0)
    assert available_cuda_memory(device) == 71 * gib  # free plus the reserved-but-unused GiB
    assert cuda_batch_size(gib // 8, 18 * gib, 1000) == 115  # 80 % of 18 GiB at 1/8 GiB per row
    assert cuda_batch_size(0.1 * gib, 180 * gib, 1000) == 256 and cuda_batch_size(10 * gib, gib, 9) == 1
