"""The visualize and measure stages on every rank of a torchrun run, each rank on its shard.

Visualize: each rank optimises its round-robin share of the selected units (a result is one
file per row, so ranks never write the same file) and the ranks' summaries are gathered.

Measure: rank 0 computes the cached speed invariance first and the others then read it;
each rank writes the media of its shard's visualizations and its part files of the units
and visualizations tables; after a barrier every rank reads the merged units, plans the
real clips exactly as a single process would and writes its round-robin share of their
media and draws the heat-map overlays of its round-robin share of the shown clips; rank 0
gathers the clips' paths and the overlays, merges the parts into the five tables (same rows,
same order as a single-process run), writes the manifest and deletes the parts. In a world
of one both are the single-process stages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from generator.config import AtlasConfig
from generator.pipeline.assemble import (
    AssembleSummary,
    ClipPart,
    Measuring,
    UnitPart,
    assemble,
    clip_overlays,
    failure_cases_and_clips,
    measure_units,
    summarise,
    table_metadata,
    write_atlas,
    write_clip_media,
)
from generator.pipeline.distributed import Cluster, barrier, gather, main_first, shard, shard_selection
from generator.pipeline.overlays import OverlayPart, merge_overlay_parts
from generator.pipeline.parts import merge_parts, remove_parts, unit_order, write_part
from generator.pipeline.select import Selection
from generator.pipeline.speed import speed_invariance
from generator.pipeline.tuning import tuning_responses
from generator.pipeline.visualize import StageSummary, visualize_stage
from generator.zoo import LoadedModel

PART_TABLES = ("units", "visualizations")
Log = Callable[[str], None]


def visualize_sharded(
    loaded: LoadedModel,
    config: AtlasConfig,
    selection: Selection,
    output: Path,
    device: torch.device,
    cluster: Cluster,
    rho: Mapping[str, np.ndarray] | None = None,
    progress: bool = True,
    log: Log = print,
    workers: int = 1,
) -> StageSummary:
    """Visualize this rank's shard of ``selection``; returns the summary of all ranks together.

    ``workers`` (CPU worker processes) applies to a world of one only: under torchrun the
    ranks already are the processes."""
    mine = shard_selection(selection, cluster.rank, cluster.world)
    workers = 1 if cluster.distributed else workers
    summary = visualize_stage(
        loaded, config, mine, output, device, rho=rho, progress=progress, workers=workers
    )
    if cluster.distributed:
        log(
            f"{cluster.tag} visualized {summary.computed} results, {summary.cached} found cached, "
            f"{len(summary.failed)} failed, for {mine.unit_count} units"
        )
    summaries = gather(cluster, summary)
    return StageSummary(
        computed=sum(s.computed for s in summaries),
        cached=sum(s.cached for s in summaries),
        failed=tuple(f for s in summaries for f in s.failed),
    )


def assemble_sharded(
    run: Measuring, selection: Selection, cluster: Cluster, log: Log = print
) -> AssembleSummary | None:
    """The measure stage on this rank: rank 0 returns the summary, the other ranks None."""
    if not cluster.distributed:
        return assemble(
            run.loaded, run.config, selection, run.output, run.device, run.stats, run.progress, run.workers
        )
    part = _measure_shard(run, selection, cluster)
    order = unit_order(selection, run.loaded.description.unit_id)
    u_rows = merge_parts(run.output, "units", cluster.world, order)
    card, drafts, jobs = failure_cases_and_clips(run, u_rows)
    clips = write_clip_media(run, {key: jobs[key] for key in shard(list(jobs), cluster.rank, cluster.world)})
    overlays = clip_overlays(run, u_rows, share=(cluster.rank, cluster.world))
    log(
        f"{cluster.tag} measured {len(part.units)} units and {len(part.visualizations)} visualizations; "
        f"media sets written {part.media_written}, reused {part.media_cached}; "
        f"real clips written {clips.written}, reused {clips.cached}; "
        f"overlays written {overlays.written}, reused {overlays.cached}"
    )
    shares = gather(cluster, (dataclasses.replace(part, units=[], visualizations=[]), clips, overlays))
    if not cluster.is_main:
        return None
    return _merge(run, order, u_rows, shares, card, drafts, part.seconds)


def _measure_shard(run: Measuring, selection: Selection, cluster: Cluster) -> UnitPart:
    """Measure this rank's shard and write its part files; returns once every rank has written its parts."""
    loaded, stats = run.loaded, run.stats
    if stats is not None:  # cached on disk: rank 0 computes it, measure_units then reads it on every rank
        main_first(
            cluster, lambda: speed_invariance(loaded, run.config, stats, run.output, run.device, run.progress)
        )
    main_first(cluster, lambda: tuning_responses(loaded, run.device, run.output))  # data-free, cached
    part = measure_units(run, shard_selection(selection, cluster.rank, cluster.world))
    metadata = table_metadata(loaded, run.config)
    for name in PART_TABLES:
        write_part(run.output, name, getattr(part, name), cluster.rank, cluster.world, metadata)
    barrier(cluster)
    return part


def _merge(
    run: Measuring,
    order: dict[str, int],
    u_rows: list[dict],
    shares: list[tuple[UnitPart, ClipPart, OverlayPart]],
    card: dict,
    drafts: list,
    seconds: dict[str, float],
) -> AssembleSummary:
    """Rank 0, once every rank is done: the tables and manifest from the parts; the parts deleted."""
    vis_rows = merge_parts(run.output, "visualizations", len(shares), order)
    clip_paths = {key: paths for _, clips, _ in shares for key, paths in clips.paths.items()}
    overlays = merge_overlay_parts([drawn for _, _, drawn in shares])
    manifest = write_atlas(run, u_rows, vis_rows, clip_paths, card, drafts, overlays)
    remove_parts(run.output)
    parts, clips = [part for part, _, _ in shares], [clip for _, clip, _ in shares]
    return summarise(u_rows, vis_rows, parts, clips, manifest, seconds, overlays)
