"""Shared parts of the engine benchmarks: the naive reference loop, FLOP counting, reporting.

The naive reference is how feature-visualization code is commonly written in PyTorch:
one unit at a time, float32, the full forward pass with a hook that only records the
target layer, ``loss.backward()`` on a model whose parameters still require gradients
(so every weight gradient is computed and thrown away). It solves exactly the problem
the engine solves (same noise, jitter, regularisers and optimiser), so its activations
double as a correctness check of the batched engine.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator.engine import EngineSettings, VisualizationResult, prepare_model, visualize_layer  # noqa: E402
from generator.engine.objectives import unit_objective  # noqa: E402
from generator.engine.optimizer import MomentumState, learning_rate, momentum_adagrad_step, project_norm  # noqa: E402
from generator.engine.plan import Row, draw_row_noise  # noqa: E402
from generator.engine.regularizers import regularizer_terms  # noqa: E402
from generator.engine.transforms import jitter_radius, transform_inputs  # noqa: E402
from generator.engine.truncate import TruncatedNetwork  # noqa: E402
from generator.zoo.activations import with_negative_slope  # noqa: E402
from generator.zoo.spec import ModelDescription  # noqa: E402


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU: {line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"CPU: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def header(device: torch.device) -> str:
    return "\n".join(
        [
            f"device: {device_name(device)}",
            f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"command: {' '.join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])}",
            f"torch: {torch.__version__}, python {platform.python_version()}",
            f"load average before the run (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        ]
    )


def load_model() -> tuple[nn.Module, ModelDescription, str]:
    """The embedded trained default model, or small_fusion() with random weights (same shapes
    and cost) when its checkpoint is missing; with a label saying which."""
    from generator import zoo  # lazily: the zoo is only needed here
    from generator.errors import AtlasError

    try:
        loaded = zoo.load("default")
        return loaded.model, loaded.description, "default (trained checkpoint)"
    except AtlasError:
        torch.manual_seed(0)
        model = zoo.small_fusion()
        return model, model.describe(), "small_fusion (random weights; no default checkpoint yet)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class NaiveRun:
    seconds: float
    unit_iterations: int
    activations: list[float]


def naive_reference(
    model: nn.Module,
    description: ModelDescription,
    layer: str,
    units: Sequence[int],
    settings: EngineSettings,
    device: torch.device,
    chi: float = 1.0,
    seed: int = 0,
) -> NaiveRun:
    """One unit at a time, float32, full forward, parameter gradients on (see module docstring)."""
    info = description.layer(layer)
    net = with_negative_slope(model, settings.leaky_slope).to(device).eval()
    net.requires_grad_(True)
    specs = description.inputs
    radius = jitter_radius(description, info)
    lrs = [
        learning_rate(
            s.height, s.width, lr_scale=settings.lr_scale, bound=settings.bound, alpha=settings.alpha
        )
        for s in specs
    ]
    captured: dict[str, torch.Tensor] = {}
    handle = net.get_submodule(info.module).register_forward_hook(
        lambda m, a, out: captured.__setitem__("out", out)
    )
    activations = []
    try:
        synchronize(device)
        start = time.perf_counter()
        for unit in units:
            noise = draw_row_noise(
                info.name,
                Row(unit, chi, seed),
                specs,
                steps=settings.steps,
                bound=settings.bound,
                jitter=radius,
                scale_range=0.0,
                rotation_degrees=0.0,
            )
            xs = [x[None].to(device).requires_grad_(True) for x in noise.init]
            states = [MomentumState.zeros_like(x) for x in xs]
            objective = unit_objective(info, settings.objective, torch.tensor([unit], device=device))
            chis = torch.tensor([chi], device=device)
            for k in range(settings.steps):
                view = transform_inputs(xs, specs, noise.shifts[k : k + 1].to(device))
                net(*view)  # the whole network runs; the hook only records the layer
                energy = -objective(captured["out"], settings.leaky_slope)
                for spec, x in zip(specs, xs):
                    r_a, r_tv = regularizer_terms(
                        x,
                        spec,
                        chis,
                        alpha=settings.alpha,
                        beta=settings.beta,
                        lam_alpha=settings.lam_alpha(spec.kind),
                        lam_tv=settings.lam_tv(spec.kind),
                    )
                    energy = energy + r_a + r_tv
                net.zero_grad(set_to_none=True)
                for x in xs:
                    x.grad = None
                energy.sum().backward()
                with torch.no_grad():
                    for i, (x, spec) in enumerate(zip(xs, specs)):
                        new, states[i] = momentum_adagrad_step(
                            x,
                            x.grad,
                            states[i],
                            lr=lrs[i],
                            momentum=settings.momentum,
                            decay=settings.rms_decay,
                        )
                        x.copy_(project_norm(new, spec, 2 * settings.bound))
            with torch.no_grad():
                net(*xs)
                activations.append(float(objective(captured["out"], info.own_slope)[0]))
        synchronize(device)
        seconds = time.perf_counter() - start
    finally:
        handle.remove()
    return NaiveRun(seconds, len(units) * settings.steps, activations)


def engine_step_flops(
    model: nn.Module,
    description: ModelDescription,
    layer: str,
    settings: EngineSettings,
    device: torch.device,
) -> float:
    """FLOPs of one engine step for one row: forward to the layer + gradient w.r.t. the inputs."""
    info = description.layer(layer)
    prepared = prepare_model(model, settings.replace(compile=False), device)
    xs = [torch.zeros((1, *s.shape), device=device, requires_grad=True) for s in description.inputs]
    objective = unit_objective(info, settings.objective, torch.tensor([0], device=device))
    with FlopCounterMode(display=False) as counter:
        act = objective(TruncatedNetwork(prepared.module, info.module)(*xs), settings.leaky_slope)
        # .backward() rather than autograd.grad (which the counter's hooks do not support);
        # the parameters are frozen, so only the input gradients are computed either way.
        act.sum().backward()
    return float(counter.get_total_flops())


def naive_step_flops(
    model: nn.Module, description: ModelDescription, settings: EngineSettings, device: torch.device
) -> float:
    """FLOPs of one naive step: full forward + backward including every weight gradient."""
    net = with_negative_slope(model, settings.leaky_slope).to(device).eval()
    net.requires_grad_(True)
    xs = [torch.zeros((1, *s.shape), device=device, requires_grad=True) for s in description.inputs]
    with FlopCounterMode(display=False) as counter:
        net(*xs).sum().backward()
    return float(counter.get_total_flops())


def matmul_ceiling(
    device: torch.device, n: int, dtype: torch.dtype = torch.bfloat16, repeats: int = 20
) -> float:
    """Measured TFLOP/s of a large square matmul: the practical ceiling of this card."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def timed_engine(
    model: nn.Module | object,
    description: ModelDescription,
    layer: str,
    units: Sequence[int],
    settings: EngineSettings,
    device: torch.device,
) -> tuple[float, list[VisualizationResult]]:
    synchronize(device)
    start = time.perf_counter()
    results = visualize_layer(model, description, layer, list(units), [1.0], [0], settings, device)
    synchronize(device)
    return time.perf_counter() - start, results


def relative_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """max |a - b| / max(|b|, 1e-6) over pairs."""
    return max(abs(x - y) / max(abs(y), 1e-6) for x, y in zip(a, b))


def input_correlation(a: Sequence[VisualizationResult], b: Sequence[VisualizationResult]) -> float:
    """Smallest Pearson correlation between the two runs' optimised inputs, row by row."""
    worst = 1.0
    for x, y in zip(a, b):
        u = np.concatenate([v.ravel() for v in x.inputs.values()])
        v = np.concatenate([w.ravel() for w in y.inputs.values()])
        worst = min(worst, float(np.corrcoef(u, v)[0, 1]))
    return worst


def compare(
    model: nn.Module,
    description: ModelDescription,
    layer: str,
    *,
    units: int,
    naive_units: int,
    precision_units: int,
    settings: EngineSettings,
    device: torch.device,
    matmul_n: int,
) -> list[str]:
    """The full comparison on one layer; returns report lines."""
    info = description.layer(layer)
    unit_ids = [u % info.units for u in range(units)]
    lines = [
        f"model: {description.name}, layer: {layer} ({info.kind}, {info.units} units), steps: {settings.steps}"
    ]

    naive = naive_reference(
        model, description, layer, unit_ids[:naive_units], settings.replace(precision="fp32"), device
    )
    naive_rate = naive.unit_iterations / naive.seconds

    prepared = prepare_model(model, settings, device)
    # Warm-up (cuDNN autotuning, compilation, allocator) on a short run, not timed.
    visualize_layer(prepared, description, layer, unit_ids[:2], [1.0], [0], settings.replace(steps=2), device)
    seconds, results = timed_engine(prepared, description, layer, unit_ids, settings, device)
    engine_rate = len(results) * settings.steps / seconds

    flops_engine = engine_step_flops(model, description, layer, settings, device)
    flops_naive = naive_step_flops(model, description, settings, device)
    ceiling = matmul_ceiling(device, matmul_n, torch.bfloat16 if device.type == "cuda" else torch.float32)
    engine_tflops = flops_engine * len(results) * settings.steps / seconds / 1e12
    naive_tflops = flops_naive * naive.unit_iterations / naive.seconds / 1e12
    ceiling_name = "bf16" if device.type == "cuda" else "fp32"

    # Precision: the same rows in float32 and bf16.
    fp32_settings = settings.replace(precision="fp32")
    _, fp32 = timed_engine(model, description, layer, unit_ids[:precision_units], fp32_settings, device)
    # The naive loop measures with leaky ReLUs, like the engine's "objective_term" (w = 1 here).
    naive_check = relative_difference(
        naive.activations, [r.terms["objective_term"] for r in fp32[:naive_units]]
    )
    lines += [
        f"naive reference (1 unit/pass, fp32, full forward, weight grads): {naive_rate:10.2f} unit-iterations/s "
        f"({naive_units} units, {naive.seconds:.2f} s), {naive_tflops:.3f} TFLOP/s counted",
        f"engine ({len(results)} rows, precision={settings.precision}, batch={settings.batch_size or 'auto'}): "
        f"{engine_rate:10.2f} unit-iterations/s ({seconds:.2f} s), {engine_tflops:.3f} TFLOP/s counted",
        f"speed-up: {engine_rate / naive_rate:.1f}x",
        f"FLOPs per unit-iteration: engine {flops_engine / 1e9:.3f} GFLOP (cut forward + input gradient), "
        f"naive {flops_naive / 1e9:.3f} GFLOP (full forward + backward with weight gradients)",
        f"{ceiling_name} matmul ceiling ({matmul_n}^3) measured: {ceiling:.2f} TFLOP/s; "
        f"engine reaches {engine_tflops / ceiling:.1%} of it",
        f"engine fp32 vs naive reference, final activations: max relative difference {naive_check:.2e}",
    ]
    bf16_settings = settings.replace(precision="bf16")
    _, bf16 = timed_engine(model, description, layer, unit_ids[:precision_units], bf16_settings, device)
    act_fp32 = [r.activation for r in fp32]
    act_bf16 = [r.activation for r in bf16]
    lines.append(
        f"bf16 vs fp32 on the same {precision_units} units and seeds: final activation max relative difference "
        f"{relative_difference(act_bf16, act_fp32):.3e} (mean fp32 activation {np.mean(act_fp32):.4g}), "
        f"smallest input correlation {input_correlation(bf16, fp32):.4f}"
    )
    lines.append(basis_cost(prepared, description, layer, unit_ids, settings, device))
    return lines


def basis_cost(
    prepared: object,
    description: ModelDescription,
    layer: str,
    unit_ids: Sequence[int],
    settings: EngineSettings,
    device: torch.device,
    repeats: int = 3,
) -> str:
    """The temporal DCT basis (the atlas's default) against pixels on the same rows: median
    seconds of ``repeats`` alternating runs each, so machine noise hits both alike."""
    times: dict[str, list[float]] = {"pixel": [], "dct": []}
    for _ in range(repeats):
        for basis in times:
            seconds, _ = timed_engine(
                prepared, description, layer, unit_ids, settings.replace(temporal_basis=basis), device
            )
            times[basis].append(seconds)
    pixel, dct = (float(np.median(times[b])) for b in ("pixel", "dct"))
    return (
        f"temporal DCT basis vs pixels, same {len(unit_ids)} rows, median of {repeats} alternating runs: "
        f"{dct:.2f} s vs {pixel:.2f} s, cost ratio {dct / pixel:.3f}"
    )


def emit(lines: list[str], save: Path | None) -> None:
    """Print a benchmark's report and, when ``save`` is given, write it there too."""
    report = "\n".join(lines)
    print(report)
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text(report + "\n")
