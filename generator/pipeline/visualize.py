"""The visualization stage: every selected unit at every chi and seed, stored one result per file.

Results are keyed by (model hash, the settings that change the optimisation, unit, chi,
seed). Units whose results all exist, read back whole and succeeded are skipped (a failed
result is retried on every rerun, a damaged one recomputed); the rest run in chunks through the
engine and are saved as each chunk finishes, so an interrupted run loses at most one
chunk and a rerun continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import pickle
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from generator.config import AtlasConfig, VisualizeConfig
from generator.engine import EngineSettings, VisualizationResult, prepare_model, visualize_layer
from generator.engine.runtime import MAX_AUTO_BATCH, PreparedModel, use_bf16
from generator.pipeline.select import Selection
from generator.pipeline.views import JOINT, held_inputs, layer_views, view_identity
from generator.pipeline.workers import exit_with_parent
from generator.store.keys import result_key
from generator.store.results import result_file, save_result, stored_status
from generator.zoo import LoadedModel
from generator.zoo.spec import ModelDescription

# Rows per engine call (and per save) when visualize.batch_size is not set: large enough to
# batch well, small enough that an interrupted run loses little. With worker processes the
# chunks are smaller, so that the last ones leave few workers idle.
CHUNK_ROWS = 96
CHUNK_ROWS_PARALLEL = 48
# The quantity a unit's objective maximises; part of every result's key.
RESPONSE = "rectified, target leaks in every step"
# On CUDA a chunk is as large as the engine's largest automatic batch, so chunks do not cap
# the batches the card's memory allows.
CHUNK_ROWS_CUDA = MAX_AUTO_BATCH


@dataclass(frozen=True)
class StageSummary:
    """What a stage did: results computed, found cached, and failures with their reasons."""

    computed: int = 0
    cached: int = 0
    failed: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def engine_settings(visualize: VisualizeConfig) -> EngineSettings:
    """The engine's settings for the ``visualize`` section."""
    return EngineSettings.from_config(visualize)


def settings_identity(settings: EngineSettings, device: torch.device) -> dict:
    """The settings that change a result (batching and compilation do not; precision does)."""
    values = dataclasses.asdict(settings)
    for name in ("batch_size", "compile", "channels_last", "precision"):
        values.pop(name)
    values["bf16"] = use_bf16(settings, device)
    # What the objective is (method.md): the rectified response, weighted by its rectified data
    # maximum. Results of an earlier definition (the pre-ReLU response) must not be reused.
    values["response"] = RESPONSE
    return values


def visualize_stage(
    loaded: LoadedModel,
    config: AtlasConfig,
    selection: Selection,
    output: Path,
    device: torch.device,
    rho: Mapping[str, np.ndarray] | None = None,
    progress: bool = True,
    workers: int = 1,
) -> StageSummary:
    """Visualize the selection into ``output``; skip finished results.

    On the CPU, ``workers`` > 1 runs the chunks in that many processes, each with an equal
    share of torch's threads: for small networks a step is dominated by many small
    element-wise operations that scale far better over processes than over threads (the
    figures for the default model on 2 cores are in bench/results/notes.md)."""
    settings = engine_settings(config.visualize)
    identity = settings_identity(settings, device)
    chis, seeds = config.visualize.chi, config.visualize.seeds
    desc = loaded.description
    per_unit = len(chis) * len(seeds)

    def path_of(layer: str, unit: int, chi: float, seed: int, view: str = JOINT) -> Path:
        unit_id = desc.unit_id(layer, unit)
        key = result_key(loaded.model_hash, view_identity(identity, view), unit_id, chi, seed)
        return result_file(output, unit_id, chi, seed, key)

    # Work is grouped by the rows each unit still lacks, so a unit interrupted between two of
    # its chi values only computes the missing ones (rows are independent of each other).
    todo: list[tuple[str, str, tuple[float, ...], tuple[int, ...], list[int]]] = []
    cached = 0
    for layer, units in selection.layers:
        for view in layer_views(desc.layer(layer), desc, config.visualize.stream_views):
            groups: dict[tuple[tuple[float, int], ...], list[int]] = {}
            for unit in units:
                # Absent, damaged (removed and logged) or failed: computed (again); a failure is retried.
                missing = tuple(
                    (c, s)
                    for c in chis
                    for s in seeds
                    if stored_status(path_of(layer, unit, c, s, view)) != "ok"
                )
                cached += per_unit - len(missing)
                if missing:
                    groups.setdefault(missing, []).append(unit)
            for missing, group in groups.items():
                for grid_chis, grid_seeds in _grids(missing):
                    todo.append((layer, view, grid_chis, grid_seeds, group))
    if not todo:
        return StageSummary(cached=cached)

    # The model travels to the workers pickled once here (None: it cannot, stay in this process).
    payload = _pickled(loaded.model) if device.type == "cpu" and workers > 1 else None
    parallel = payload is not None
    chunk_rows = settings.batch_size or (
        CHUNK_ROWS_PARALLEL if parallel else CHUNK_ROWS_CUDA if device.type == "cuda" else CHUNK_ROWS
    )
    chunks = []
    for layer, view, grid_chis, grid_seeds, units in todo:
        rows_per_unit = len(grid_chis) * len(grid_seeds)
        chunk_units = max(1, chunk_rows // rows_per_unit)
        for start in range(0, len(units), chunk_units):
            chunk = tuple(units[start : start + chunk_units])
            scale = {u: float(rho[layer][u]) for u in chunk} if rho is not None and layer in rho else None
            chunks.append(
                Chunk(layer, tuple(grid_chis), tuple(grid_seeds), chunk, scale, view, held_inputs(view, desc))
            )
    failed: list[tuple[str, str]] = []
    computed = 0
    total_rows = sum(chunk.rows for chunk in chunks)

    def keep(results: list[VisualizationResult], view: str) -> None:
        nonlocal computed
        for result in results:
            _save(
                path_of(result.layer, result.unit, result.chi, result.seed, view), result, loaded, desc, view
            )
            computed += 1
            if not result.ok:
                where = "" if view == JOINT else f" {view}"
                failed.append(
                    (f"{desc.unit_id(result.layer, result.unit)} chi={result.chi:g}{where}", result.status)
                )

    with tqdm(
        total=total_rows / per_unit, desc="visualize", unit="unit", disable=not progress, dynamic_ncols=True
    ) as bar:
        if parallel and len(chunks) > 1:
            threads = max(1, torch.get_num_threads() // workers)
            context = multiprocessing.get_context("spawn")  # torch's thread pools do not survive fork
            with ProcessPoolExecutor(
                max_workers=min(workers, len(chunks)),
                mp_context=context,
                initializer=_start_worker,
                initargs=(payload, desc, settings, threads),
            ) as pool:
                # Deepest layers first: they cost the most per row, and cheap chunks then fill the tail.
                futures = {pool.submit(_run_chunk, chunk): chunk for chunk in reversed(chunks)}
                for future in as_completed(futures):
                    keep(future.result(), futures[future].view)
                    bar.update(futures[future].rows / per_unit)
        else:
            prepared = prepare_model(loaded.model, settings, device)
            for chunk in chunks:
                bar.set_postfix_str(chunk.layer)
                keep(
                    chunk.run(prepared, desc, settings, device, lambda rows: bar.update(rows / per_unit)),
                    chunk.view,
                )
    return StageSummary(computed=computed, cached=cached, failed=tuple(failed))


@dataclass(frozen=True)
class Chunk:
    """Units of one layer visualized together at every (chi, seed) of a grid: one engine call."""

    layer: str
    chis: tuple[float, ...]
    seeds: tuple[int, ...]
    units: tuple[int, ...]
    scale: dict[int, float] | None  # rho per unit, None without data
    view: str = JOINT  # see pipeline.views
    hold: tuple[str, ...] = ()  # inputs the view holds at their data mean

    @property
    def rows(self) -> int:
        return len(self.chis) * len(self.seeds) * len(self.units)

    def run(
        self,
        prepared: PreparedModel,
        desc: ModelDescription,
        settings: EngineSettings,
        device: torch.device,
        progress: Callable[[int], None] | None = None,
    ) -> list[VisualizationResult]:
        return visualize_layer(
            prepared,
            desc,
            self.layer,
            self.units,
            self.chis,
            self.seeds,
            settings,
            device,
            unit_scale=self.scale,
            progress=progress,
            hold=self.hold,
        )


# What a visualization worker process holds for its whole life (set once by _start_worker).
_WORKER: dict[str, object] = {}


def _start_worker(payload: bytes, desc: ModelDescription, settings: EngineSettings, threads: int) -> None:
    exit_with_parent()
    torch.set_num_threads(threads)
    model = pickle.loads(payload)  # noqa: S301 - bytes pickled by this build's own parent process
    _WORKER.update(prepared=prepare_model(model, settings, "cpu"), desc=desc, settings=settings)


def _run_chunk(chunk: Chunk) -> list[VisualizationResult]:
    return chunk.run(_WORKER["prepared"], _WORKER["desc"], _WORKER["settings"], torch.device("cpu"))


def _pickled(model: torch.nn.Module) -> bytes | None:
    """The model as bytes for the worker processes, or None (a user model may hold unpicklable state)."""
    try:
        return pickle.dumps(model)
    except Exception:  # noqa: BLE001 - any failure means: stay in this process
        return None


def _grids(rows: tuple[tuple[float, int], ...]) -> list[tuple[tuple[float, ...], tuple[int, ...]]]:
    """(chis, seeds) grids that cover exactly ``rows``: one grid when the rows form one, else one per row."""
    chis = tuple(dict.fromkeys(c for c, _ in rows))
    seeds = tuple(dict.fromkeys(s for _, s in rows))
    if len(rows) == len(chis) * len(seeds):
        return [(chis, seeds)]
    return [((c,), (s,)) for c, s in rows]


def _save(path: Path, result: VisualizationResult, loaded: LoadedModel, desc, view: str = JOINT) -> None:
    meta = {
        "view": view,
        "unit_id": desc.unit_id(result.layer, result.unit),
        "layer": result.layer,
        "unit": result.unit,
        "chi": result.chi,
        "seed": result.seed,
        "preset": result.preset,
        "objective": _finite(result.objective),
        "activation": _finite(result.activation),
        "normalized_activation": _finite(result.normalized_activation),
        "rho": _finite(result.rho),
        "steps": result.steps,
        "wall_seconds": result.wall_time,
        "status": result.status,
        "terms": {k: _finite(v) for k, v in result.terms.items()},
        "model_hash": loaded.model_hash,
    }
    save_result(path, result.inputs, result.loss, meta)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
