"""The engine's public entry points: visualize units of one layer (:func:`visualize_layer`)
or solve given rows as one batch (:func:`visualize_rows`).

Checks the caller's units, chis, seeds and held inputs, sizes the batches (measured once
per layer on CUDA) and halves them when the device runs out of memory; the batches
themselves are solved by :class:`generator.engine.batch.BatchRunner`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from generator.engine.batch import BatchRunner
from generator.engine.parameterization import ParameterizationFactory
from generator.engine.plan import Row, iter_batches, plan_rows
from generator.engine.results import VisualizationResult
from generator.engine.runtime import (
    CPU_BATCH_SIZE,
    MAX_AUTO_BATCH,
    PreparedModel,
    available_cuda_memory,
    cuda_batch_size,
    prepare_model,
    resolve_device,
)
from generator.engine.settings import EngineSettings
from generator.errors import ConfigError, ModelError
from generator.zoo.spec import LayerInfo, ModelDescription

ProgressCallback = Callable[[int], None]


def visualize_layer(
    model: nn.Module | PreparedModel,
    description: ModelDescription,
    layer: str,
    units: Sequence[int],
    chis: Sequence[float],
    seeds: Sequence[int],
    settings: EngineSettings,
    device: torch.device | str,
    unit_scale: Mapping[int, float] | None = None,
    progress: ProgressCallback | None = None,
    hold: Sequence[str] = (),
    parameterization: ParameterizationFactory | None = None,
) -> list[VisualizationResult]:
    """Visualize ``units`` of ``layer`` at every chi from every seed.

    ``hold`` names inputs held at zero, their data mean in network units (the mean frame of
    an RGB input, zero flow): only the other inputs are optimised, so a unit fed by several
    streams shows what each stream alone drives (a per-stream view). Held inputs are stored
    as zeros.

    Returns one result per (unit, chi, seed) in that nesting order (see plan_rows).
    ``unit_scale`` maps a unit to rho_u, its largest response on real data (w_u = 1/rho_u);
    a missing, non-finite or non-positive rho counts as 1 (a dead unit has no usable
    scale). ``progress`` is called after each batch with the number of rows it finished
    (an increment, so ``tqdm.update`` can be passed directly). ``model`` may be a
    PreparedModel from :func:`prepare_model` to reuse one device copy across layers.
    ``parameterization``: builds each batch's parameterization from the input specs and the
    rows' starting inputs, instead of the one settings.parameterization names.
    """
    info = description.layer(layer)
    units = _check_units(info, units)
    chis = _check_chis(chis)
    seeds = _check_seeds(seeds)
    rows = plan_rows(units, chis, seeds)
    if not rows:
        return []
    device = resolve_device(device)
    prepared = model if isinstance(model, PreparedModel) else prepare_model(model, settings, device)
    if prepared.device != device:
        raise ConfigError(
            f"The prepared model lives on {prepared.device}, but device {device} was requested."
        )
    if prepared.leaky_slope != settings.leaky_slope:
        raise ConfigError(
            f"The prepared model leaks with slope {prepared.leaky_slope}, but settings.leaky_slope is "
            f"{settings.leaky_slope}; prepare the model with the same settings."
        )
    rhos = {u: _effective_rho((unit_scale or {}).get(u)) for u in units}

    run = BatchRunner(
        prepared, description, info, settings, rhos, _check_hold(description, hold), parameterization
    )
    memory = prepared.memory  # what earlier calls learned about this layer, for the rest of the run
    if settings.batch_size is not None:
        size = settings.batch_size
    else:
        if info.name not in memory.batch_rows:
            memory.batch_rows[info.name] = _automatic_batch_size(run, rows)
        size = memory.batch_rows[info.name]
    size = min(size, memory.max_rows.get(info.name, size), len(rows))
    results: list[VisualizationResult] = []
    pending: deque[tuple[Row, ...]] = deque(iter_batches(rows, size))
    while pending:
        batch = pending.popleft()
        out_of_memory = False
        try:
            done = run(batch)
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                raise
            out_of_memory = True
        if out_of_memory:
            # Handled outside the except block: the traceback, and with it the failed
            # batch's tensors, is gone before the cache is emptied and half the rows retried.
            if prepared.device.type == "cuda":
                torch.cuda.empty_cache()
            memory.max_rows[info.name] = max(1, len(batch) // 2)  # for every later call on this layer too
            remaining = [row for chunk in (batch, *pending) for row in chunk]
            pending = deque(iter_batches(remaining, memory.max_rows[info.name]))
            continue
        results.extend(done)
        if progress is not None:
            progress(len(batch))
    return results


def _automatic_batch_size(run: BatchRunner, rows: Sequence[Row]) -> int:
    """Rows per batch for the layer of ``run`` when the settings leave it open.

    On CUDA one eager step of a two-row batch is measured once per layer and run, and the
    memory this process can still use is filled with rows like them (MAX_AUTO_BATCH at
    most); later calls on the layer reuse the answer (see RunMemory)."""
    device = run.prepared.device
    if device.type != "cuda":
        return CPU_BATCH_SIZE
    probe = rows[: min(2, len(rows))]
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fits = True
    try:
        run(probe, steps=1, eager=True)
    except torch.cuda.OutOfMemoryError:
        fits = False
    if not fits:
        torch.cuda.empty_cache()
        return 1  # not even two rows fit; the loop re-raises if one does not
    per_row = (torch.cuda.max_memory_allocated(device) - base) / len(probe)
    return cuda_batch_size(per_row, available_cuda_memory(device), MAX_AUTO_BATCH)


def _check_units(info: LayerInfo, units: Sequence[int]) -> list[int]:
    checked = []
    for unit in units:
        if (
            isinstance(unit, bool)
            or not isinstance(unit, (int, np.integer))
            or not 0 <= int(unit) < info.units
        ):
            raise ModelError(
                f"Unit {unit!r} is out of range for layer {info.name!r}, which has units 0..{info.units - 1}."
            )
        checked.append(int(unit))
    return checked


def _check_hold(description: ModelDescription, hold: Sequence[str]) -> frozenset[str]:
    names = [spec.name for spec in description.inputs]
    unknown = [name for name in hold if name not in names]
    if unknown or len(set(hold)) >= len(names):
        raise ConfigError(
            f"Inputs to hold at their mean must be some (not all) of {', '.join(names)}; got {list(hold)!r}."
        )
    return frozenset(hold)


def _check_chis(chis: Sequence[float]) -> list[float]:
    values = [float(c) for c in chis]
    if any(not math.isfinite(c) or c < 0 for c in values):
        raise ConfigError(f"Every chi must be a finite number >= 0; got {list(chis)!r}.")
    return values


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ConfigError(f"Seeds must be integers >= 0; got {list(seeds)!r}.")
    return [int(s) for s in seeds]


def _effective_rho(rho: float | None) -> float:
    if rho is None or not math.isfinite(rho) or rho <= 0:
        return 1.0
    return float(rho)


def visualize_rows(
    model: nn.Module | PreparedModel,
    description: ModelDescription,
    layer: str,
    rows: Sequence[Row],
    settings: EngineSettings,
    device: torch.device | str,
    unit_scale: Mapping[int, float] | None = None,
    hold: Sequence[str] = (),
) -> list[VisualizationResult]:
    """Solve exactly ``rows`` as one batch (no splitting); for planners that batch themselves
    (``hold``: as in :func:`visualize_layer`)."""
    info = description.layer(layer)
    _check_units(info, [r.unit for r in rows])
    _check_chis([r.chi for r in rows])
    device = resolve_device(device)
    prepared = model if isinstance(model, PreparedModel) else prepare_model(model, settings, device)
    rhos = {r.unit: _effective_rho((unit_scale or {}).get(r.unit)) for r in rows}
    return BatchRunner(prepared, description, info, settings, rhos, _check_hold(description, hold))(rows)
