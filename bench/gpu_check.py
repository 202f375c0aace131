"""The engine's GPU path checked and measured in one command (about 8 minutes on one GPU).

    python bench/gpu_check.py                 # on CUDA; writes bench/results/gpu_check_<date>_<card>.txt
    python bench/gpu_check.py --cpu-smoke     # every step at a tiny size on the CPU (run by the tests)

Needs only this repository and torch/torchvision (no ffmpeg, MkDocs or data). Each step
has its own time limit and a failing step does not stop the others; the summary at the
end lists every step with its status and numbers, and the exit status is 1 if any step
failed or ran out of time.

Steps: the starting noise is bit-identical on the card and the CPU; the default model on
the card against the CPU in strict fp32 and in bf16; host synchronisations per step
(``torch.cuda.set_sync_debug_mode``); torchvision's video networks and the paper's
``fusion_vgg16`` with random weights in bf16; batch halving after out-of-memory errors
under a per-process memory cap; and the engine benchmark at full scale (VGG-16 fusion at
224 x 224, L = 10): the naive loop against the engine in fp32 and bf16, eager and compiled,
TFLOP/s counted with torch's FLOP counter against a bf16 matmul ceiling measured in the
same run, and bf16 results against fp32 ones. Benchmark times are per optimisation step,
taken as the difference of two runs of the same rows with different step counts, after a
warm-up run of the same shape: noise set-up, batch sizing, the final evaluation and the
copies to the host cancel out, and compiled graphs are compiled before the timer.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import re
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_common import (  # noqa: E402  (the repository root is put on sys.path there)
    ROOT,
    engine_step_flops,
    header,
    input_correlation,
    load_model,
    matmul_ceiling,
    naive_reference,
    naive_step_flops,
    relative_difference,
    synchronize,
)

from generator.engine import EngineSettings, prepare_model, visualize_layer  # noqa: E402
from generator.engine.plan import Row, draw_initial_inputs  # noqa: E402
from generator.engine.runtime import available_cuda_memory  # noqa: E402

RESULTS = ROOT / "bench" / "results"


# ----------------------------------------------------------------------------------------
# Sizes


@dataclass(frozen=True)
class Scale:
    """Every size the check uses: the full one for a GPU, a tiny one for the CPU smoke run."""

    name: str
    device: torch.device
    fusion_net: str = "fusion_vgg16"  # the smoke run uses small_fusion: same code paths, tiny
    fusion_size: int = 224
    fusion_fields: int = 10
    video_frames: int | None = None  # None: each network's documented clip
    video_size: int | None = None
    video_nets: tuple[str, ...] = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d")
    compare_units: int = 8
    compare_layers: int = 3
    compare_steps: int = 100
    net_units: int = 4
    net_steps: int = 20
    bench_rows: int = 64
    naive_units: int = 2
    steps_short: int = 15
    steps_long: int = 45
    matmul_n: int = 8192
    compile_backend: str = "inductor"
    limit_s: float = 150.0  # per step; the benchmark steps get more (see main)


def full_scale(device: torch.device) -> Scale:
    return Scale("full", device)


def smoke_scale() -> Scale:
    return Scale(
        "cpu-smoke",
        torch.device("cpu"),
        fusion_net="small_fusion",
        fusion_size=32,
        fusion_fields=2,
        video_frames=4,
        video_size=32,
        video_nets=("r3d_18",),
        compare_units=1,
        compare_layers=2,
        compare_steps=2,
        net_units=1,
        net_steps=2,
        bench_rows=2,
        naive_units=1,
        steps_short=1,
        steps_long=2,
        matmul_n=128,
        compile_backend="eager",
        limit_s=120.0,
    )


# ----------------------------------------------------------------------------------------
# Steps with a time limit


class CheckFailed(AssertionError):
    """A measured value is outside what the engine promises."""


class Skipped(Exception):
    """The step does not apply here (e.g. needs CUDA)."""


class StepTimeout(Exception):
    pass


@dataclass
class Outcome:
    name: str
    status: str
    seconds: float
    lines: list[str] = field(default_factory=list)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise StepTimeout after ``seconds`` (SIGALRM; no limit where the platform lacks it)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise StepTimeout(f"ran past its limit of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_step(name: str, limit_s: float, step: Callable[[], list[str]], device: torch.device) -> Outcome:
    print(f"\n== {name} (limit {limit_s:.0f} s)", flush=True)
    start = time.perf_counter()
    lines: list[str] = []
    try:
        with time_limit(limit_s):
            lines = step()
        status = "ok"
    except Skipped as reason:
        status, lines = "skipped", [str(reason)]
    except StepTimeout as reason:
        status, lines = "TIMEOUT", [str(reason)]
    except CheckFailed as reason:
        status, lines = "FAILED", [f"check failed: {reason}"]
    except Exception as error:  # noqa: BLE001 - one failing step must not stop the others
        status = "FAILED"
        lines = [f"{type(error).__name__}: {error}", *traceback.format_exc().strip().splitlines()[-6:]]
    finally:
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
            torch.cuda.set_per_process_memory_fraction(1.0, device)
            torch.cuda.empty_cache()
    outcome = Outcome(name, status, time.perf_counter() - start, lines)
    for line in lines:
        print(f"   {line}", flush=True)
    print(f"   -> {status} in {outcome.seconds:.1f} s", flush=True)
    return outcome


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def needs_cuda(scale: Scale) -> None:
    if scale.device.type != "cuda":
        raise Skipped("needs CUDA (the CPU paths are covered by tests/test_engine_compile.py)")


# ----------------------------------------------------------------------------------------
# Models and settings


def atlas_settings() -> tuple[EngineSettings, str]:
    """The atlas's engine settings (visualize section defaults), or the paper's without pydantic."""
    try:
        from generator.config import AtlasConfig
        from generator.pipeline.visualize import engine_settings
    except ImportError as error:  # pydantic/yaml/tqdm may be absent on a bare GPU image
        return EngineSettings(), f"the paper's engine defaults (atlas defaults need {error.name})"
    return engine_settings(AtlasConfig().visualize), "the atlas's defaults (AtlasConfig().visualize)"


def vgg_fusion(scale: Scale) -> tuple[torch.nn.Module, object]:
    """The paper's network with random weights (small_fusion in the smoke run)."""
    from generator.zoo import fusion_vgg16, small_fusion

    torch.manual_seed(0)
    if scale.fusion_net == "small_fusion":
        model = small_fusion(flow_fields=scale.fusion_fields, image_size=scale.fusion_size)
    else:
        model = fusion_vgg16(
            num_classes=101,
            flow_fields=scale.fusion_fields,
            image_size=scale.fusion_size,
            tower_weights="random",
        )
    return model, model.describe()


def fusion_layer(description: object) -> str:
    """The layer that fuses the streams (conv5_fusion in fusion_vgg16)."""
    return next(layer.name for layer in description.layers if layer.kind == "conv3d")


def pick_layers(description: object, count: int) -> list[str]:
    """``count`` layers spread from the first to the last (always both ends)."""
    names = [layer.name for layer in description.layers]
    if count >= len(names):
        return names
    return [names[round(i * (len(names) - 1) / (count - 1))] for i in range(count)]


def unit_ids(description: object, layer: str, count: int) -> list[int]:
    units = description.layer(layer).units
    return [round(i * units / count) % units for i in range(count)]


def all_ok(results: Sequence[object]) -> bool:
    return all(r.ok and math.isfinite(r.activation) for r in results)


# ----------------------------------------------------------------------------------------
# The steps


def step_environment(scale: Scale) -> list[str]:
    lines = header(scale.device).splitlines()
    lines.append(f"scale: {scale.name}; torchvision {_torchvision_version()}")
    if scale.device.type == "cuda":
        props = torch.cuda.get_device_properties(scale.device)
        lines.append(
            f"card: {props.name}, compute capability {props.major}.{props.minor}, "
            f"{props.total_memory / 2**30:.1f} GiB, {props.multi_processor_count} SMs; CUDA {torch.version.cuda}"
        )
    return lines


def _torchvision_version() -> str:
    try:
        import torchvision

        return torchvision.__version__
    except ImportError:
        return "absent"


def step_noise(scale: Scale) -> list[str]:
    """The starting noise of the same rows on the device and on the CPU: bit for bit."""
    _, description = vgg_fusion(scale)
    rows = [Row(0, 1.0, 0), Row(511, 100.0, 3)]
    layer = fusion_layer(description)
    here = draw_initial_inputs(layer, rows, description.inputs, 80.0, scale.device)
    cpu = draw_initial_inputs(layer, rows, description.inputs, 80.0, "cpu")
    same = all(torch.equal(a.cpu(), b) for a, b in zip(here, cpu))
    values = sum(x.numel() for x in cpu)
    check(same, f"the starting noise on {scale.device} differs from the CPU's")
    return [f"{values:,} starting values of 2 rows: identical on {scale.device} and the CPU"]


def step_default_model(scale: Scale, settings: EngineSettings) -> list[str]:
    """The default model on the device (strict fp32, bf16) against the CPU (fp32)."""
    model, description, label = load_model()
    settings = settings.replace(steps=scale.compare_steps, batch_size=None)
    lines = [f"network: {label}; {scale.compare_steps} steps; chi 1 and 100"]
    worst_fp32 = 1.0
    for layer in pick_layers(description, scale.compare_layers):
        units = unit_ids(description, layer, scale.compare_units)

        def run(precision: str, device: str, layer: str = layer, units: list[int] = units):
            return visualize_layer(
                model,
                description,
                layer,
                units,
                [1.0, 100.0],
                [0],
                settings.replace(precision=precision),
                device,
            )

        cpu = run("fp32", "cpu")
        fp32 = run("fp32", scale.device)
        bf16 = run("bf16", scale.device)
        check(all_ok(cpu) and all_ok(fp32) and all_ok(bf16), f"{layer}: a row failed")
        act = [r.activation for r in cpu]
        corr32 = input_correlation(fp32, cpu)
        worst_fp32 = min(worst_fp32, corr32)
        lines.append(
            f"{layer}: fp32 {scale.device.type} vs cpu: activation max rel diff "
            f"{relative_difference([r.activation for r in fp32], act):.2e}, smallest input correlation {corr32:.5f}; "
            f"bf16 vs cpu fp32: {relative_difference([r.activation for r in bf16], act):.2e}, "
            f"{input_correlation(bf16, cpu):.4f}"
        )
    # Strict fp32 follows the CPU's trajectory; optimisation amplifies rounding differences
    # over the steps, so the inputs are compared by correlation, not bit for bit, and only a
    # gross departure (a wrong layout, TF32 left on at large values) fails the check.
    check(worst_fp32 > 0.9, f"strict fp32 inputs correlate {worst_fp32:.4f} with the CPU's (expected > 0.9)")
    return lines


def step_host_syncs(scale: Scale, settings: EngineSettings) -> list[str]:
    """Synchronising operations per optimisation step, counted by CUDA's sync debug mode."""
    needs_cuda(scale)
    model, description, _ = load_model()
    layer = pick_layers(description, 2)[-1]
    units = unit_ids(description, layer, 8)
    base = settings.replace(batch_size=len(units) * 2)
    prepared = prepare_model(model, base, scale.device)

    def count(steps: int) -> tuple[int, list[str]]:
        run = base.replace(steps=steps)
        visualize_layer(prepared, description, layer, units, [1.0, 100.0], [0], run, scale.device)  # warm-up
        synchronize(scale.device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                visualize_layer(prepared, description, layer, units, [1.0, 100.0], [0], run, scale.device)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
        return len(syncs), [f"{Path(w.filename).name}:{w.lineno}" for w in syncs]

    short, long = 10, 30
    n_short, _ = count(short)
    n_long, where = count(long)
    per_step = (n_long - n_short) / (long - short)
    places = sorted(set(where))[:6]
    lines = [
        f"{layer}, {2 * len(units)} rows: {n_short} synchronisations in {short} steps, {n_long} in {long}: "
        f"{per_step:.2f} per step, {n_long - per_step * long:.0f} per batch (set-up, results to the host)",
        "where: " + (", ".join(places) or "nowhere"),
    ]
    check(per_step == 0, f"{per_step:.2f} host synchronisations per step (expected 0)")
    return lines


def step_video_nets(scale: Scale, settings: EngineSettings) -> list[str]:
    """torchvision's video networks with random weights, first and last layers, bf16."""
    from generator.zoo import torchvision_video

    lines = []
    run = settings.replace(steps=scale.net_steps, precision="bf16")
    for name in scale.video_nets:
        model = torchvision_video(name, weights="random", frames=scale.video_frames, size=scale.video_size)
        description = model.describe()
        for layer in pick_layers(description, 2):
            units = unit_ids(description, layer, scale.net_units)
            synchronize(scale.device)
            start = time.perf_counter()
            results = visualize_layer(model, description, layer, units, [1.0], [0], run, scale.device)
            synchronize(scale.device)
            seconds = time.perf_counter() - start
            check(all_ok(results), f"{name} {layer}: {[r.status for r in results]}")
            lines.append(
                f"{name} {model.frames}x{model.size}x{model.size} {layer}: {len(units)} units ok, "
                f"{seconds / (len(units) * scale.net_steps) * 1e3:.1f} ms per unit-step (with set-up)"
            )
    return lines


def step_fusion_vgg16(scale: Scale, settings: EngineSettings) -> list[str]:
    """The paper's network with random weights at several depths, bf16."""
    model, description = vgg_fusion(scale)
    prepared = prepare_model(model, settings, scale.device)
    run = settings.replace(steps=scale.net_steps, precision="bf16")
    lines = []
    for layer in pick_layers(description, 5) + [fusion_layer(description)]:
        units = unit_ids(description, layer, scale.net_units)
        results = visualize_layer(prepared, description, layer, units, [1.0], [0], run, scale.device)
        check(all_ok(results), f"{layer}: {[r.status for r in results]}")
        lines.append(f"{layer}: {len(units)} units ok, batch {prepared.memory.batch_rows.get(layer)}")
    return lines


def step_oom_halving(scale: Scale, settings: EngineSettings) -> list[str]:
    """A per-process memory cap that holds a third of the asked batch: the batch must halve."""
    needs_cuda(scale)
    model, description = vgg_fusion(scale)
    layer = fusion_layer(description)
    device = scale.device
    run = settings.replace(steps=2, precision="bf16")
    prepared = prepare_model(model, run, device)
    units = unit_ids(description, layer, 24)
    visualize_layer(prepared, description, layer, units[:2], [1.0], [0], run.replace(batch_size=2), device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    visualize_layer(prepared, description, layer, units[:4], [1.0], [0], run.replace(batch_size=4), device)
    per_row = (torch.cuda.max_memory_allocated(device) - base) / 4
    total = torch.cuda.get_device_properties(device).total_memory
    fraction = (base + per_row * len(units) / 3) / total
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(fraction, device)
    capped = available_cuda_memory(device)
    prepared.memory.max_rows.clear()  # the same device copy, no out-of-memory error seen yet
    results = visualize_layer(
        prepared, description, layer, units, [1.0], [0], run.replace(batch_size=len(units)), device
    )
    planned = prepared.memory.max_rows.get(layer)
    check(all_ok(results), "a row failed under the memory cap")
    check(planned is not None and planned < len(units), f"the batch was not halved (kept {planned})")
    return [
        f"{per_row / 2**20:.0f} MiB per row; cap {fraction:.3f} of the card ({capped / 2**30:.2f} GiB available "
        f"as the engine sees it); asked {len(units)} rows per batch, ran {planned} after halving; all rows ok"
    ]


# ----------------------------------------------------------------------------------------
# The engine benchmark


@dataclass
class Timing:
    seconds_per_step: float  # for all rows together
    rows: int
    results: list[object]


def per_step_time(run: Callable[[int], list[object]], short: int, long: int) -> Timing:
    """Seconds per step from two timed runs of ``short`` and ``long`` steps after a warm-up run."""
    run(long)  # warm-up: same shapes, both ReLU phases, every graph compiled
    times = {}
    results: list[object] = []
    for steps in (short, long):
        start = time.perf_counter()
        results = run(steps)
        times[steps] = time.perf_counter() - start
    # max(): on a loaded machine two tiny runs can take the same time
    return Timing(max((times[long] - times[short]) / (long - short), 1e-9), len(results), results)


class Benchmark:
    """The naive loop and the engine on VGG-16 fusion at its fusion layer; measurements shared by steps."""

    def __init__(self, scale: Scale, settings: EngineSettings) -> None:
        self.scale = scale
        self.model, self.description = vgg_fusion(scale)
        self.layer = fusion_layer(self.description)
        self.units = unit_ids(self.description, self.layer, scale.bench_rows)
        self.settings = settings.replace(batch_size=scale.bench_rows)
        self.timings: dict[str, Timing] = {}
        self.flops: dict[str, float] = {}
        self.ceiling: dict[str, float] = {}

    def engine(self, name: str, settings: EngineSettings) -> list[str]:
        s = self.scale
        compile_start = time.perf_counter()
        prepared = prepare_model(self.model, settings, s.device, compile_backend=s.compile_backend)

        def run(steps: int) -> list[object]:
            results = visualize_layer(
                prepared,
                self.description,
                self.layer,
                self.units,
                [1.0],
                [0],
                settings.replace(steps=steps),
                s.device,
            )
            synchronize(s.device)
            return results

        first = run(2)  # compiles, if compiling
        warm = time.perf_counter() - compile_start
        check(all_ok(first), f"{name}: a row failed")
        timing = per_step_time(run, s.steps_short, s.steps_long)
        check(
            prepared.memory.compile_failure is None,
            f"{name}: compilation failed: {prepared.memory.compile_failure}",
        )
        self.timings[name] = timing
        if "engine" not in self.flops:
            self.flops["engine"] = engine_step_flops(
                self.model, self.description, self.layer, settings, s.device
            )
        rate = timing.rows / timing.seconds_per_step
        tflops = self.flops["engine"] * rate / 1e12
        return [
            f"{name}: {rate:10.1f} unit-steps/s, {tflops:.2f} TFLOP/s counted "
            f"({timing.rows} rows per batch; first call incl. compilation {warm:.1f} s)"
        ]

    def naive(self) -> list[str]:
        s = self.scale
        units = self.units[: s.naive_units]
        fp32 = self.settings.replace(precision="fp32")
        run = lambda steps: naive_reference(  # noqa: E731
            self.model, self.description, self.layer, units, fp32.replace(steps=steps), s.device
        )
        with numerics_fp32(s.device):
            short, long = run(s.steps_short), run(s.steps_long)
        seconds = (long.seconds - short.seconds) / (s.steps_long - s.steps_short)
        self.timings["naive"] = Timing(seconds, len(units), [])
        self.flops["naive"] = naive_step_flops(self.model, self.description, fp32, s.device)
        rate = len(units) / seconds
        return [
            f"naive loop (1 unit per pass, fp32, full forward, weight gradients): {rate:10.1f} unit-steps/s, "
            f"{self.flops['naive'] * rate / 1e12:.2f} TFLOP/s counted"
        ]

    def ceilings(self) -> list[str]:
        s = self.scale
        self.ceiling["bf16"] = matmul_ceiling(s.device, s.matmul_n, torch.bfloat16)
        with numerics_fp32(s.device):
            self.ceiling["fp32"] = matmul_ceiling(s.device, s.matmul_n, torch.float32)
        return [
            f"matmul ceiling ({s.matmul_n}^3) measured: bf16 {self.ceiling['bf16']:.1f} TFLOP/s, "
            f"strict fp32 {self.ceiling['fp32']:.1f} TFLOP/s"
        ]

    def projection(self) -> list[str]:
        """The paper atlas's counted FLOPs (bench/projection.py) at the rates measured here."""
        from projection import layer_costs  # type: ignore[import-not-found]

        with torch.device("meta"):
            model, description = vgg_fusion(self.scale)
        model.eval().requires_grad_(False)
        total = sum(cost.atlas_flops for cost in layer_costs(model, description))
        lines = [
            f"paper atlas ({self.scale.fusion_net}, every unit, 3 chi, 300 steps): {total / 1e18:.3f} EFLOP counted"
        ]
        for name, timing in self.timings.items():
            if name != "naive":
                rate = self.flops["engine"] * timing.rows / timing.seconds_per_step
                lines.append(f"at the rate of {name} at {self.layer}: {total / rate / 3600:.2f} GPU-hours")
        return lines

    def summary(self) -> list[str]:
        lines = [
            f"FLOPs per unit-step: engine {self.flops.get('engine', float('nan')) / 1e9:.2f} GFLOP "
            f"(truncated forward + input gradient), naive {self.flops.get('naive', float('nan')) / 1e9:.2f} GFLOP"
        ]
        naive = self.timings.get("naive")
        for name, timing in self.timings.items():
            if name == "naive":
                continue
            rate = timing.rows / timing.seconds_per_step
            tflops = self.flops.get("engine", float("nan")) * rate / 1e12
            ceiling = self.ceiling.get("fp32" if "fp32" in name else "bf16")
            parts = [f"{name}: {tflops:.2f} TFLOP/s"]
            if ceiling:
                parts.append(
                    f"{tflops / ceiling:.1%} of the measured {'fp32' if 'fp32' in name else 'bf16'} ceiling"
                )
            if naive is not None:
                parts.append(
                    f"{rate / (naive.rows / naive.seconds_per_step):.1f}x the naive loop's unit-steps/s"
                )
            lines.append("; ".join(parts))
        fp32, bf16 = self.timings.get("engine fp32"), self.timings.get("engine bf16")
        if fp32 and bf16:
            a32 = [r.activation for r in fp32.results]
            lines.append(
                f"bf16 vs fp32, same rows and {self.scale.steps_long} steps: activation max rel diff "
                f"{relative_difference([r.activation for r in bf16.results], a32):.2e}, smallest input correlation "
                f"{input_correlation(bf16.results, fp32.results):.4f}"
            )
        return lines


@contextlib.contextmanager
def numerics_fp32(device: torch.device) -> Iterator[None]:
    """Strict fp32 outside the engine (the naive loop, the fp32 matmul), as the engine sets it."""
    from generator.engine.runtime import numerics

    with numerics(device, bf16=False):
        yield


# ----------------------------------------------------------------------------------------


def summary_lines(outcomes: Sequence[Outcome], started: float) -> list[str]:
    width = max(len(o.name) for o in outcomes)
    lines = ["", "== summary"]
    for o in outcomes:
        first = o.lines[0] if o.status != "ok" and o.lines else ""
        lines.append(f"{o.name:<{width}}  {o.status:<8} {o.seconds:7.1f} s  {first}".rstrip())
    bad = [o.name for o in outcomes if o.status in ("FAILED", "TIMEOUT")]
    lines.append(
        f"total {time.perf_counter() - started:.0f} s; " + (f"NOT OK: {', '.join(bad)}" if bad else "all ok")
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="every step at a tiny size on the CPU")
    parser.add_argument("--device", default="cuda", help="the CUDA device to check (default: cuda)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report file (default: bench/results/gpu_check_<date>_<card>.txt; none for --cpu-smoke)",
    )
    parser.add_argument("--skip", nargs="*", default=[], help="names of steps to leave out")
    args = parser.parse_args(argv)

    if args.cpu_smoke:
        scale = smoke_scale()
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA device; use --cpu-smoke to check the script on the CPU")
        scale = full_scale(torch.device(args.device))
    settings, settings_label = atlas_settings()
    started = time.perf_counter()
    bench = Benchmark(scale, settings)
    limit, long_limit = scale.limit_s, 2 * scale.limit_s
    steps: list[tuple[str, float, Callable[[], list[str]]]] = [
        ("environment", 30, lambda: step_environment(scale) + [f"settings: {settings_label}"]),
        ("noise identical to the CPU's", limit, lambda: step_noise(scale)),
        ("default model vs CPU, fp32 and bf16", long_limit, lambda: step_default_model(scale, settings)),
        ("host synchronisations per step", limit, lambda: step_host_syncs(scale, settings)),
        ("torchvision video nets, bf16", long_limit, lambda: step_video_nets(scale, settings)),
        ("fusion_vgg16 random weights, bf16", limit, lambda: step_fusion_vgg16(scale, settings)),
        ("out-of-memory halving under a cap", limit, lambda: step_oom_halving(scale, settings)),
        ("matmul ceilings", limit / 2, bench.ceilings),
        ("benchmark: naive loop", limit, bench.naive),
        (
            "benchmark: engine fp32",
            limit,
            lambda: bench.engine("engine fp32", bench.settings.replace(precision="fp32")),
        ),
        (
            "benchmark: engine bf16",
            limit,
            lambda: bench.engine("engine bf16", bench.settings.replace(precision="bf16")),
        ),
        (
            "benchmark: engine bf16 compiled",
            long_limit,
            lambda: bench.engine(
                "engine bf16 compiled", bench.settings.replace(precision="bf16", compile=True)
            ),
        ),
        ("benchmark: summary", 30, bench.summary),
        ("projection at the measured rates", limit, bench.projection),
    ]
    outcomes = [
        run_step(name, seconds, step, scale.device)
        for name, seconds, step in steps
        if name not in set(args.skip)
    ]
    lines = summary_lines(outcomes, started)
    print("\n".join(lines), flush=True)
    report = [f"# GPU check ({scale.name})", *step_environment_safe(scale), ""]
    for o in outcomes:
        report += [f"== {o.name}: {o.status} ({o.seconds:.1f} s)", *(f"   {line}" for line in o.lines)]
    report += lines
    out = args.out
    if out is None and not args.cpu_smoke:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
        card = re.sub(r"[^A-Za-z0-9]+", "-", torch.cuda.get_device_name(scale.device)).strip("-")
        out = RESULTS / f"gpu_check_{stamp}_{card}.txt"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(report) + "\n")
        print(f"report written to {out}")
    return 1 if any(o.status in ("FAILED", "TIMEOUT") for o in outcomes) else 0


def step_environment_safe(scale: Scale) -> list[str]:
    try:
        return step_environment(scale)
    except Exception as error:  # noqa: BLE001
        return [f"(environment unavailable: {error})"]


if __name__ == "__main__":
    sys.exit(main())
