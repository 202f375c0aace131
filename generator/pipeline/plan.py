"""The plan of a run (``--dry-run``): what would be visualized, what is cached, and a time estimate.

Nothing is stored. The device-time estimate is a short calibration on the device itself:
each selected layer runs a few real optimisation steps of the batch the build will run
(the same rows per batch, chi values, seeds and engine settings, channels-last included),
once with one step and once with ``1 + CALIBRATION_STEPS``. The difference gives the
seconds per step of that batch, the rest the fixed cost of a batch (noise, set-up, result
records). A layer then costs its batches times (fixed cost + steps x step time). With CPU
worker processes the calibration runs in such processes, started as the build starts them
and timed while they compete for the cores as in the build; their start is timed too, and
the layers' cost is shared between them. Media time is estimated from the measured per-result cost in
:mod:`generator.pipeline.media_stage`, the heat-map overlays' time and space from their count and
measured cost in :mod:`generator.pipeline.overlay_cost`. ``bench/dry_run_estimate.py`` compares the estimate
with measured runs.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import torch

from generator import model_sources
from generator.config import AtlasConfig
from generator.engine import EngineSettings, PreparedModel, prepare_model, visualize_layer
from generator.engine.runtime import CPU_BATCH_SIZE
from generator.pipeline.catalog import find_results
from generator.pipeline.media_stage import MEDIA_WORKERS, SECONDS_PER_RESULT
from generator.pipeline.overlay_cost import (
    OVERLAY_BYTES,
    SAMPLED_CLIPS,
    SECONDS_PER_OVERLAY,
    OverlayEstimate,
    estimate_overlays,
)
from generator.pipeline.select import Selection, resolve_device, select_units
from generator.pipeline.statistics import world_matches
from generator.pipeline.views import layer_views
from generator.pipeline.visualize import (
    _WORKER,
    CHUNK_ROWS,
    CHUNK_ROWS_PARALLEL,
    _pickled,
    _start_worker,
    engine_settings,
)
from generator.store.space import megabytes
from generator.zoo import DEFAULT_CHECKPOINT, LoadedModel, build_from_architecture, load
from generator.zoo.loading import fixed_init_seed
from generator.zoo.spec import ModelDescription

CALIBRATION_STEPS = 3


@dataclass(frozen=True)
class LayerCost:
    """The calibrated cost of one layer's rows still to compute."""

    layer: str
    batch: int  # rows per batch, as the build runs them
    batches: int
    step_seconds: float  # one optimisation step of a batch
    batch_seconds: float  # the fixed cost of a batch besides its steps

    def seconds(self, steps: int) -> float:
        return self.batches * (self.batch_seconds + steps * self.step_seconds)


@dataclass(frozen=True)
class Plan:
    """What a visualization run would do."""

    model: str
    model_hash: str | None  # None: the default model is not trained yet
    device: str
    layers: tuple[tuple[str, int, int, int], ...]  # (layer, units, rows, cached rows)
    chis: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    has_data: bool
    layer_seconds: tuple[LayerCost, ...] | None  # None: not timed
    workers: int = 1  # processes the optimisation is shared between
    start_seconds: float = 0.0  # measured start of a worker process (interpreter and imports)
    overlays: OverlayEstimate | None = None  # the heat-map overlays the measure stage draws (None: none)

    @property
    def rows(self) -> int:
        return sum(rows for _, _, rows, _ in self.layers)

    @property
    def cached(self) -> int:
        return sum(cached for _, _, _, cached in self.layers)

    @property
    def units(self) -> int:
        return sum(units for _, units, _, _ in self.layers)

    @property
    def estimate_seconds(self) -> float | None:
        """Estimated wall time of the optimisation (None: not timed)."""
        if self.layer_seconds is None:
            return None
        compute = sum(cost.seconds(self.steps) for cost in self.layer_seconds) / max(1, self.workers)
        return self.start_seconds + compute


def plan_model(config: AtlasConfig) -> tuple[LoadedModel, bool]:
    """The configured model without training it: (model, needs training). An untrained default
    model is stood in for by its architecture with seeded random weights (same layers and cost)."""
    source = config.model
    if (
        source.source == model_sources.DEFAULT
        and source.checkpoint is None
        and not DEFAULT_CHECKPOINT.is_file()
    ):
        from generator.train import default_architecture

        architecture = default_architecture(config)
        with fixed_init_seed():
            net = build_from_architecture(architecture)
        return LoadedModel(net.eval(), net.describe(), "untrained", architecture), True
    return load(source.source, source.checkpoint, weights=source.weights), False


def make_plan(
    config: AtlasConfig,
    layers: str | None = None,
    units: str | None = None,
    timing: bool = True,
    workers: int = 1,
) -> tuple[Plan, Selection]:
    """The plan of visualizing the selection; ``timing`` runs the calibration (a few steps per
    layer); ``workers`` is the number of CPU worker processes the build would run."""
    device = resolve_device(config.visualize.device)
    loaded, untrained = plan_model(config)
    selection = select_units(config, loaded.description, layers, units)
    found = {} if untrained else _cached_rows(loaded, config, selection, device)
    per_unit = len(config.visualize.chi) * len(config.visualize.seeds)
    desc = loaded.description
    views = {
        layer: len(layer_views(desc.layer(layer), desc, config.visualize.stream_views))
        for layer, _ in selection.layers
    }
    records = tuple(
        (layer, len(chosen), len(chosen) * per_unit * views[layer], found.get(layer, 0))
        for layer, chosen in selection.layers
    )
    todo = {layer: rows - cached for layer, _, rows, cached in records}
    # As the build: worker processes on the CPU only, and no more than there are chunks of rows.
    chunk_units = max(1, CHUNK_ROWS_PARALLEL // per_unit)
    chunks = sum(-(-(rows // per_unit) // chunk_units) for rows in todo.values())
    payload = _pickled(loaded.model) if device.type == "cpu" and workers > 1 and chunks > 1 else None
    parallel = min(workers, chunks) if payload is not None else 1
    costs, start = None, 0.0
    if timing and selection.layers:
        settings = engine_settings(config.visualize)
        jobs = [
            CalibrationJob(
                layer,
                tuple(chosen),
                tuple(config.visualize.chi),
                tuple(config.visualize.seeds),
                batch_rows(config, device, todo[layer], parallel > 1),
                todo[layer],
            )
            for layer, chosen in selection.layers
            if todo[layer] > 0
        ]
        if payload is not None and parallel > 1:
            costs, start = _calibrate_in_workers(payload, loaded.description, settings, jobs, parallel)
        else:
            prepared = prepare_model(loaded.model, settings, device)
            costs = tuple(_time_layer(prepared, loaded.description, settings, job, device) for job in jobs)
    plan = Plan(
        model=loaded.description.name,
        model_hash=None if untrained else loaded.model_hash,
        device=str(device),
        layers=records,
        chis=tuple(config.visualize.chi),
        seeds=tuple(config.visualize.seeds),
        steps=config.visualize.steps,
        has_data=world_matches(loaded, config),
        layer_seconds=costs,
        workers=parallel,
        start_seconds=start,
        overlays=estimate_overlays(loaded, config, selection, trained=not untrained),
    )
    return plan, selection


def format_plan(plan: Plan, with_media: bool = False) -> list[str]:
    """The plan as lines for the terminal."""
    state = (
        f"hash {plan.model_hash[:16]}" if plan.model_hash else "not trained yet: the build trains it first"
    )
    lines = [f"Plan: model {plan.model} ({state}) on {plan.device}"]
    lines.append(f"{'layer':<28}{'units':>7}{'rows':>8}{'cached':>8}")
    lines += [f"{name:<28}{units:>7}{rows:>8}{cached:>8}" for name, units, rows, cached in plan.layers]
    todo = plan.rows - plan.cached
    lines.append(
        f"chi: {', '.join(f'{c:g}' for c in plan.chis)}; seeds: {', '.join(map(str, plan.seeds))}; "
        f"steps: {plan.steps}"
    )
    lines.append(
        f"{plan.units} units in {len(plan.layers)} layers: {plan.rows} rows, {plan.cached} cached, "
        f"{todo} to compute."
    )
    total = plan.estimate_seconds
    if total is not None and plan.layer_seconds is not None:
        batches = sorted({cost.batch for cost in plan.layer_seconds})
        shared = (
            f", shared by {plan.workers} worker processes, {plan.start_seconds:.0f} s to start them"
            if plan.workers > 1
            else ""
        )
        lines.append(
            f"Estimated device time: {_duration(total)} (calibrated on {plan.device}: {CALIBRATION_STEPS} real "
            f"steps of each layer's batch of {'/'.join(map(str, batches))} rows{shared}; within 2x of measured "
            f"runs in bench/results/dry_run_estimate.txt)."
        )
    if not plan.has_data:
        lines.append(
            "The synthetic world does not fit this model: data-driven measures will be empty (rho = 1)."
        )
    if with_media:
        lines.append(
            f"Estimated media time: {_duration(plan.rows * SECONDS_PER_RESULT / MEDIA_WORKERS)} for up to "
            f"{plan.rows} media sets ({SECONDS_PER_RESULT:.2f} s each per core, {MEDIA_WORKERS} processes; "
            f"existing media are skipped)."
        )
    if with_media and plan.overlays is not None:
        lines.append(overlay_line(plan.overlays))
    return lines


def overlay_line(estimate: OverlayEstimate) -> str:
    """The dry run's line on the heat-map overlays (see generator.pipeline.overlay_cost)."""
    how = (
        "counted from the cached statistics"
        if estimate.exact
        else "at most: the statistics are not measured yet, so every unit counts as live and its "
        f"{SAMPLED_CLIPS} sampled clips as other than its top clips"
    )
    return (
        f"Estimated overlay time: {_duration(estimate.seconds)} for {estimate.todo} of the {estimate.total} "
        f"heat-map overlays of {estimate.units} units with positions ({how}; existing ones are skipped), "
        f"{megabytes(estimate.bytes)} on disk ({SECONDS_PER_OVERLAY:.3f} s and {OVERLAY_BYTES // 1024} KiB "
        f"each, bench/results/overlays_cpu.txt)."
    )


def _cached_rows(
    loaded: LoadedModel, config: AtlasConfig, selection: Selection, device: torch.device
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ref in find_results(loaded, config, selection, config.output, device, remove_damaged=False):
        counts[ref.layer] = counts.get(ref.layer, 0) + 1
    return counts


def batch_rows(config: AtlasConfig, device: torch.device, rows: int, parallel: bool) -> int:
    """Rows per engine batch in the build: the configured batch size, else on the CPU the
    engine's batch and on CUDA the whole chunk (the engine fills the memory with rows)."""
    if config.visualize.batch_size is not None:
        return max(1, min(config.visualize.batch_size, rows))
    chunk = CHUNK_ROWS_PARALLEL if parallel else CHUNK_ROWS
    return max(1, min(CPU_BATCH_SIZE if device.type == "cpu" else chunk, rows))


@dataclass(frozen=True)
class CalibrationJob:
    """One layer to calibrate: a batch of its rows as the build runs them."""

    layer: str
    units: tuple[int, ...]
    chis: tuple[float, ...]
    seeds: tuple[int, ...]
    batch: int  # rows per batch in the build
    rows: int  # rows still to compute


def _time_layer(
    prepared: PreparedModel,
    desc: ModelDescription,
    settings: EngineSettings,
    job: CalibrationJob,
    device: torch.device,
) -> LayerCost:
    """Time a batch of ``job.layer`` with 1 and with 1 + CALIBRATION_STEPS steps (after a warm-up)."""
    per_unit = len(job.chis) * len(job.seeds)
    chosen = list(job.units[: max(1, job.batch // per_unit)])  # one batch's worth of units

    def timed(steps: int) -> float:
        run = dataclasses.replace(settings, steps=steps, batch_size=job.batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        visualize_layer(prepared, desc, job.layer, chosen, list(job.chis), list(job.seeds), run, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    timed(1)  # warm-up: first-call costs (kernel selection, allocations) are not per batch
    # The faster of two runs of each size, so that one interruption on a busy machine does not
    # land in the difference.
    one = min(timed(1), timed(1))
    more = min(timed(1 + CALIBRATION_STEPS), timed(1 + CALIBRATION_STEPS))
    # Scaled to a full batch (rows cost in proportion on the timed sizes).
    scale = job.batch / (len(chosen) * per_unit)
    if more > one:
        step = (more - one) / CALIBRATION_STEPS * scale
    else:  # noise larger than the steps' cost: charge the whole run to its steps (an upper bound)
        step = more / (1 + CALIBRATION_STEPS) * scale
    fixed = max(0.0, one * scale - step)
    return LayerCost(job.layer, job.batch, -(-job.rows // job.batch), step, fixed)


def _calibrate_in_workers(
    payload: bytes, desc: ModelDescription, settings: EngineSettings, jobs: list[CalibrationJob], workers: int
) -> tuple[tuple[LayerCost, ...], float]:
    """Calibrate in worker processes started as the build starts them (spawned, the model
    unpickled, each with its share of the threads), all at once so that they compete for the
    cores as in the build. Returns the costs and the seconds until the first worker was ready."""
    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")
    started = time.time()
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(payload, desc, settings, threads),
    ) as pool:
        ready = pool.submit(time.time).result()  # the first worker has started and loaded the model
        costs = tuple(pool.map(_time_layer_in_worker, jobs))
    return costs, max(0.0, ready - started)


def _time_layer_in_worker(job: CalibrationJob) -> LayerCost:
    return _time_layer(_WORKER["prepared"], _WORKER["desc"], _WORKER["settings"], job, torch.device("cpu"))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
