"""The plan of a run (``--dry-run``): what would be visualised, what is cached, and a time estimate.

Nothing is stored. The device-time estimate comes from a quick timing: one warm-up step,
then the best of two timed runs of two steps, of a small batch (``TIMING_ROWS`` rows) of the
first and of the deepest selected layer. Every row still to compute is then priced at the first layer's
cost per row and step (cheapest: the shortest forward/backward) and at the deepest layer's
(dearest), giving a range. Larger batches on a GPU usually make real runs faster than the
upper end. Media time is estimated from the measured per-result cost in
:mod:`generator.pipeline.media_stage`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from generator.config import AtlasConfig
from generator.pipeline.catalog import find_results
from generator.pipeline.media_stage import MEDIA_WORKERS, SECONDS_PER_RESULT
from generator.pipeline.select import Selection, resolve_device, select_units
from generator.pipeline.statistics import world_matches
from generator.pipeline.views import layer_views
from generator.pipeline.visualize import engine_settings
from generator.zoo import DEFAULT_CHECKPOINT, LoadedModel, build_from_architecture, load
from generator.zoo.loading import fixed_init_seed

TIMING_ROWS = 4
TIMED_STEPS = 2
TIMING_REPEATS = 2


@dataclass(frozen=True)
class Plan:
    """What a visualisation run would do."""

    model: str
    model_hash: str | None  # None: the default model is not trained yet
    device: str
    layers: tuple[tuple[str, int, int, int], ...]  # (layer, units, rows, cached rows)
    chis: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    has_data: bool
    row_step_seconds: tuple[float, float] | None  # (first layer, deepest layer)
    timed_layers: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(rows for _, _, rows, _ in self.layers)

    @property
    def cached(self) -> int:
        return sum(cached for _, _, _, cached in self.layers)

    @property
    def units(self) -> int:
        return sum(units for _, units, _, _ in self.layers)


def plan_model(config: AtlasConfig) -> tuple[LoadedModel, bool]:
    """The configured model without training it: (model, needs training). An untrained default
    model is stood in for by its architecture with seeded random weights (same layers and cost)."""
    source = config.model
    if source.source == "default" and source.checkpoint is None and not DEFAULT_CHECKPOINT.is_file():
        from generator.train import default_architecture

        architecture = default_architecture(config)
        with fixed_init_seed():
            net = build_from_architecture(architecture)
        return LoadedModel(net.eval(), net.describe(), "untrained", architecture), True
    return load(source.source, source.checkpoint, weights=source.weights), False


def make_plan(
    config: AtlasConfig, layers: str | None = None, units: str | None = None, timing: bool = True
) -> tuple[Plan, Selection]:
    """The plan of visualising the selection; ``timing`` runs the quick timing (a few seconds)."""
    device = resolve_device(config.visualize.device)
    loaded, untrained = plan_model(config)
    selection = select_units(config, loaded.description, layers, units)
    found = {} if untrained else _cached_rows(loaded, config, selection, device)
    per_unit = len(config.visualize.chi) * len(config.visualize.seeds)
    desc = loaded.description
    views = {layer: len(layer_views(desc.layer(layer), desc, config.visualize.stream_views)) for layer, _ in selection.layers}
    records = tuple(
        (layer, len(chosen), len(chosen) * per_unit * views[layer], found.get(layer, 0))
        for layer, chosen in selection.layers
    )
    cost, timed = None, ()
    if timing and selection.layers:
        first = selection.layers[0]
        deepest = max(selection.layers, key=lambda item: loaded.description.layer(item[0]).depth)
        cost = (_row_step_seconds(loaded, config, *first, device), _row_step_seconds(loaded, config, *deepest, device))
        timed = (first[0], deepest[0])
    plan = Plan(
        model=loaded.description.name,
        model_hash=None if untrained else loaded.model_hash,
        device=str(device),
        layers=records,
        chis=tuple(config.visualize.chi),
        seeds=tuple(config.visualize.seeds),
        steps=config.visualize.steps,
        has_data=world_matches(loaded, config),
        row_step_seconds=cost,
        timed_layers=timed,
    )
    return plan, selection


def format_plan(plan: Plan, with_media: bool = False, workers: int = 1) -> list[str]:
    """The plan as lines for the terminal (``workers``: CPU worker processes of the optimisation)."""
    state = f"hash {plan.model_hash[:16]}" if plan.model_hash else "not trained yet: the build trains it first"
    lines = [f"Plan: model {plan.model} ({state}) on {plan.device}"]
    lines.append(f"{'layer':<28}{'units':>7}{'rows':>8}{'cached':>8}")
    lines += [f"{name:<28}{units:>7}{rows:>8}{cached:>8}" for name, units, rows, cached in plan.layers]
    todo = plan.rows - plan.cached
    lines.append(
        f"chi: {', '.join(f'{c:g}' for c in plan.chis)}; seeds: {', '.join(map(str, plan.seeds))}; "
        f"steps: {plan.steps}"
    )
    lines.append(f"{plan.units} units in {len(plan.layers)} layers: {plan.rows} rows, {plan.cached} cached, "
                 f"{todo} to compute.")  # fmt: skip
    if plan.row_step_seconds is not None:
        low, high = sorted(plan.row_step_seconds)
        lines.append(
            f"Estimated device time: {_duration(todo * plan.steps * low)} to {_duration(todo * plan.steps * high)} "
            f"({low * 1e3:.2f} to {high * 1e3:.2f} ms per row and step, timed on {TIMING_ROWS}-row batches of "
            f"{' and '.join(dict.fromkeys(plan.timed_layers))})."
        )
        if workers > 1 and plan.device == "cpu":
            lines.append(
                f"That is for one process; the build runs {workers} CPU worker processes, which for a small "
                f"network finish sooner (2 workers on 2 cores: 1.3-1.8x)."
            )
    if not plan.has_data:
        lines.append("The synthetic world does not fit this model: data-driven measures will be empty (rho = 1).")
    if with_media:
        lines.append(
            f"Estimated media time: {_duration(plan.rows * SECONDS_PER_RESULT / MEDIA_WORKERS)} for up to "
            f"{plan.rows} media sets ({SECONDS_PER_RESULT:.2f} s each per core, {MEDIA_WORKERS} processes; "
            f"existing media are skipped)."
        )
    return lines


def _cached_rows(
    loaded: LoadedModel, config: AtlasConfig, selection: Selection, device: torch.device
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ref in find_results(loaded, config, selection, config.output, device):
        counts[ref.layer] = counts.get(ref.layer, 0) + 1
    return counts


def _row_step_seconds(
    loaded: LoadedModel, config: AtlasConfig, layer: str, units: tuple[int, ...], device: torch.device
) -> float:
    """Seconds per row and step of a small batch of ``layer`` (after one warm-up step)."""
    from generator.engine import prepare_model, visualize_layer

    settings = engine_settings(config.visualize)
    rows = list(units[:TIMING_ROWS])
    prepared = prepare_model(loaded.model, settings, device)
    chi, seed = [config.visualize.chi[0]], [config.visualize.seeds[0]]
    warm_up = dataclasses.replace(settings, steps=1)
    visualize_layer(prepared, loaded.description, layer, rows, chi, seed, warm_up, device)
    timed = dataclasses.replace(settings, steps=TIMED_STEPS)
    best = float("inf")
    for _ in range(TIMING_REPEATS):  # the best of a few: a busy machine only ever slows a run down
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        visualize_layer(prepared, loaded.description, layer, rows, chi, seed, timed, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best / (len(rows) * TIMED_STEPS)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
