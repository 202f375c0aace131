"""Where a unit fires in each real clip its page shows: a heat-map overlay per (unit, clip).

For every live unit of a convolutional layer (conv2d tower or conv3d: units with positions) and
every held-out clip its page shows (its top clips and the clips sampled across its activation
range), the unit's rectified response map is measured on the clip's network inputs (the very
inputs the statistics measured: one forward pass per clip and layer, cut at the layer), placed on
the clip's frames in time (each snippet at its first frame, linear in between) and space
(trilinear, at the display size), and drawn over the frames the clip's media show on the unit's own
range: 0 to its largest response at any position of any held-out clip (``peaks``, the rho of a
centre objective), the same for all its clips. The MP4 and poster go beside the clip's media,
``clips/<split>_<index>/where/<unit path>.mp4|png``, with a small JSON record of what they were
drawn from: a rerun skips an overlay whose files read back whole and whose record matches (same
statistics, same range); anything else is drawn again. The clips come from a
:class:`generator.pipeline.held_out.HeldOutClips` of the statistics' data source: the synthetic
world's whole rendered clips, or for a data set on disk the snippets the network saw (the frames
of the folder clip's media), read from the prepared clips the statistics measured.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from generator.measures.response_map import (
    SPATIAL_KINDS,
    frame_positions,
    layer_response_maps,
    maps_at_frames,
    upsample_map,
)
from generator.media.frames import display_factor, upscale
from generator.media.heatmap import write_overlay
from generator.pipeline.distributed import shard
from generator.pipeline.held_out import SPLIT, HeldOutClips
from generator.pipeline.media_stage import MEDIA_WORKERS, clip_folder, start_method
from generator.pipeline.statistics import DataStatistics
from generator.pipeline.tables_stage import sampled_clips, top_clip_units
from generator.pipeline.workers import exit_with_parent
from generator.store.atomic import write_json
from generator.store.keys import unit_path
from generator.store.verify import file_problem, sound
from generator.zoo import LoadedModel
from generator.zoo.spec import ModelDescription

OVERLAY_DIR = "where"


@dataclass(frozen=True)
class Overlay:
    """One unit's overlay on one clip: its MP4 and poster (atlas-relative) and the top of its range."""

    video: str
    poster: str
    high: float


@dataclass(frozen=True)
class OverlayPart:
    """Overlays by (unit id, clip index) (None where drawing failed), and what was written."""

    overlays: dict[tuple[str, int], Overlay | None]
    written: int
    cached: int
    failed: tuple[tuple[str, str], ...]


def overlay_files(split: str, index: int, unit_id: str) -> tuple[str, str, str]:
    """(MP4, poster, record) paths of a unit's overlay on a clip, relative to the atlas."""
    stem = f"{clip_folder(split, index)}/{OVERLAY_DIR}/{unit_path(unit_id)}"
    return f"{stem}.mp4", f"{stem}.png", f"{stem}.json"


def shown_clips(description_kinds: dict[str, str], units: Sequence[dict], stats: DataStatistics) -> dict:
    """clip index -> the spatial units (rows) whose page shows it (top clips and sampled clips)."""
    found: dict[int, dict[str, dict]] = {}
    spatial = [u for u in top_clip_units(units) if description_kinds.get(u["layer"]) in SPATIAL_KINDS]
    samples = sampled_clips(spatial, stats)
    for unit in spatial:
        clips = [int(c) for c in stats.layers[unit["layer"]].top_clips[unit["channel"]]]
        clips += [clip for _, clip, _ in samples.get(unit["unit_id"], [])]
        for clip in clips:
            found.setdefault(clip, {})[unit["unit_id"]] = unit
    return {clip: list(by_id.values()) for clip, by_id in sorted(found.items())}


def _record(stats: DataStatistics, unit_id: str, high: float) -> dict:
    return {"statistics": stats.key, "unit": unit_id, "low": 0.0, "high": high}


def _cached(root: Path, files: tuple[str, str, str], record: dict, remove: bool = True) -> bool:
    """Whether the overlay's files read back whole and were drawn from ``record``'s numbers."""
    video, poster, meta = (root / f for f in files)
    if not all([sound(video, file_problem, remove=remove), sound(poster, file_problem, remove=remove)]):
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")) == record
    except (OSError, ValueError):
        return False


def clip_overlays(
    maps: np.ndarray, frames: np.ndarray, starts: Sequence[float], factor: int
) -> tuple[np.ndarray, np.ndarray]:
    """(frames upscaled by ``factor``, the map on every one of them at that size) for one unit's map
    (time, h, w) on a clip's uint8 frames (F, H, W, 3) whose snippets start at ``starts``."""
    count, height, width = frames.shape[:3]
    shown = upscale(frames, factor)
    spatial = upsample_map(maps, maps.shape[0], height * factor, width * factor)
    return shown, maps_at_frames(spatial, frame_positions(maps.shape[0], starts), count)


@dataclass(frozen=True)
class OverlayJob:
    """One overlay to draw: a unit's map on a clip's frames (both at the display size), and where it goes.
    Drawing needs numpy and ffmpeg only, never torch, so it runs in forked worker processes."""

    key: tuple[str, int]  # (unit id, clip index)
    shown: np.ndarray  # uint8 (F, H, W, 3)
    heat: np.ndarray  # float32 (F, H, W)
    files: tuple[str, str, str]
    record: dict

    def draw(self, root: Path) -> str | None:
        """Draw and write the overlay (record last, so a half-written one is redrawn); why it failed, or None."""
        try:
            write_overlay(
                self.shown, self.heat, 0.0, self.record["high"], root / self.files[0], root / self.files[1]
            )
            write_json(root / self.files[2], self.record)
            return None
        except Exception as error:  # noqa: BLE001 - one bad encode must not stop the build
            return f"{type(error).__name__}: {error}".splitlines()[0][:300]


Todo = dict[int, list[tuple[dict, tuple[str, str, str], dict]]]  # clip -> (unit row, files, record)


def overlay_plan(
    description: ModelDescription,
    units: Sequence[dict],
    stats: DataStatistics,
    root: Path,
    remove: bool = True,
    share: tuple[int, int] = (0, 1),
) -> tuple[dict[tuple[str, int], Overlay | None], Todo]:
    """Every overlay the pages of ``units`` show, by (unit id, clip), and those still to draw, by clip
    (the others read back whole from ``root`` with a matching record). ``remove``: discard a damaged
    file found on the way (a dry run, which recomputes nothing, keeps it). ``share`` (rank, world):
    only the clips of that round-robin share."""
    kinds = {info.name: info.kind for info in description.layers}
    overlays: dict[tuple[str, int], Overlay | None] = {}
    todo: Todo = {}
    wanted = shown_clips(kinds, units, stats)
    for clip in shard(list(wanted), *share):
        shown = wanted[clip]
        for unit in shown:
            high = float(stats.layers[unit["layer"]].peaks[unit["channel"]])
            files = overlay_files(SPLIT, clip, unit["unit_id"])
            record = _record(stats, unit["unit_id"], high)
            overlays[(unit["unit_id"], clip)] = Overlay(files[0], files[1], high)
            if not _cached(root, files, record, remove):
                todo.setdefault(clip, []).append((unit, files, record))
    return overlays, todo


def write_overlays(
    loaded: LoadedModel,
    clips: HeldOutClips,
    stats: DataStatistics,
    units: Sequence[dict],
    output: Path,
    device: torch.device,
    progress: bool = True,
    workers: int = MEDIA_WORKERS,
    share: tuple[int, int] = (0, 1),
) -> OverlayPart:
    """Measure and draw the overlay of every spatial unit on every clip its page shows (see the
    module doc) of the held-out ``clips`` the statistics measured: maps in this process, drawing and
    encoding in ``workers`` processes. ``share`` (rank, world): draw only this rank's round-robin
    share of the shown clips (every overlay of a clip on one rank: one forward pass per clip and
    layer); the ranks' parts together are the whole (:func:`merge_overlay_parts`)."""
    root = Path(output)
    overlays, todo = overlay_plan(loaded.description, units, stats, root, share=share)
    cached = len(overlays) - sum(len(wanted_here) for wanted_here in todo.values())
    failed: list[tuple[tuple[str, int], str, str]] = []  # (key, what, why)
    jobs = _overlay_jobs(loaded, clips, todo, device, failed)
    total = sum(len(wanted_here) for wanted_here in todo.values())
    with tqdm(total=total, desc="overlays", unit="overlay", disable=not progress or not total) as bar:
        for job, problem in _drawn(jobs, root, workers):
            if problem is not None:
                failed.append((job.key, job.files[0], problem))
            bar.update(1)
    for key, _, _ in failed:
        overlays[key] = None
    return OverlayPart(overlays, total - len(failed), cached, tuple((what, why) for _, what, why in failed))


def merge_overlay_parts(parts: Sequence[OverlayPart]) -> OverlayPart:
    """The parts the ranks drew of disjoint shares of the clips, as one."""
    return OverlayPart(
        {key: overlay for part in parts for key, overlay in part.overlays.items()},
        sum(part.written for part in parts),
        sum(part.cached for part in parts),
        tuple(failure for part in parts for failure in part.failed),
    )


def _overlay_jobs(
    loaded: LoadedModel,
    clips: HeldOutClips,
    todo: Todo,
    device: torch.device,
    failed: list[tuple[tuple[str, int], str, str]],
) -> Iterator[OverlayJob]:
    """The jobs of ``todo``, clip by clip: one forward pass per clip and layer (a failed one is
    added to ``failed`` for each of its overlays)."""
    for clip, wanted in todo.items():
        try:
            frames = clips.frames(clip)
            inputs = [x[None].to(device) for x in clips.inputs(clip)]
        except Exception as error:  # noqa: BLE001 - one unreadable clip must not stop the build
            why = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            failed.extend(((unit["unit_id"], clip), files[0], why) for unit, files, _ in wanted)
            continue
        factor = display_factor(*frames.shape[1:3])
        by_layer: dict[str, np.ndarray | str] = {}
        for unit, files, record in wanted:
            layer = unit["layer"]
            if layer not in by_layer:
                try:
                    maps = layer_response_maps(loaded.model, loaded.description.layer(layer), inputs)
                    by_layer[layer] = maps if maps is not None else "the layer has no positions"
                except Exception as error:  # noqa: BLE001 - one clip must not stop the build
                    by_layer[layer] = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            maps = by_layer[layer]
            if isinstance(maps, str):
                failed.append(((unit["unit_id"], clip), files[0], maps))
                continue
            starts = clips.starts(loaded.description.layer(layer))
            shown, heat = clip_overlays(maps[unit["channel"]], frames, starts, factor)
            yield OverlayJob((unit["unit_id"], clip), shown, heat, files, record)


def _drawn(jobs: Iterator[OverlayJob], root: Path, workers: int) -> Iterator[tuple[OverlayJob, str | None]]:
    """Each job with why drawing it failed (None when it did not), drawn in ``workers`` processes
    with a few jobs in flight each, so that the maps of a whole build are never held at once."""
    if workers <= 1:
        for job in jobs:
            yield job, job.draw(root)
        return
    context = multiprocessing.get_context(start_method())
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=exit_with_parent) as pool:
        pending: dict = {}
        for job in jobs:
            pending[pool.submit(job.draw, root)] = job
            if len(pending) >= 4 * workers:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        for future in as_completed(list(pending)):
            yield pending.pop(future), future.result()
