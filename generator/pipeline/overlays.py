"""Where a unit fires in each real clip its page shows: a heat-map overlay per (unit, clip).

For every live unit of a convolutional layer (conv2d tower or conv3d: units with positions) and
every held-out clip its page shows (its top clips and the clips sampled across its activation
range), the unit's rectified response map is measured on the clip's network inputs (the very
inputs the statistics measured: one forward pass per clip and layer, cut at the layer), placed on
the clip's frames in time (each snippet at its first frame, linear in between) and space
(trilinear, at the display size), and drawn over the clip's appearance frames on the unit's own
range: 0 to its largest response at any position of any held-out clip (``peaks``, the rho of a
centre objective), the same for all its clips. The MP4 and poster go beside the clip's media,
``clips/<split>_<index>/where/<unit path>.mp4|png``, with a small JSON record of what they were
drawn from: a rerun skips an overlay whose files read back whole and whose record matches (same
statistics, same range); anything else is drawn again. Clips of a data set on disk get none yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
from generator.pipeline.media_stage import clip_folder
from generator.pipeline.statistics import DataStatistics
from generator.pipeline.tables_stage import sampled_clips, top_clip_units
from generator.store.atomic import write_json
from generator.store.keys import unit_path
from generator.store.verify import file_problem, sound
from generator.world import SyntheticClips
from generator.world.inputs import snippet_starts
from generator.world.spec import WorldSpec
from generator.zoo import LoadedModel

OVERLAY_DIR = "where"
SPLIT = "test"  # the held-out clips that top clips and samples index


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


def _cached(root: Path, files: tuple[str, str, str], record: dict) -> bool:
    """Whether the overlay's files read back whole and were drawn from ``record``'s numbers."""
    video, poster, meta = (root / f for f in files)
    if not all([sound(video, file_problem), sound(poster, file_problem)]):
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")) == record
    except (OSError, ValueError):
        return False


def clip_overlays(
    maps: np.ndarray, frames: np.ndarray, starts: Sequence[int], factor: int
) -> tuple[np.ndarray, np.ndarray]:
    """(frames upscaled by ``factor``, the map on every one of them at that size) for one unit's map
    (time, h, w) on a clip's uint8 frames (F, H, W, 3) whose snippets start at ``starts``."""
    count, height, width = frames.shape[:3]
    shown = upscale(frames, factor)
    spatial = upsample_map(maps, maps.shape[0], height * factor, width * factor)
    return shown, maps_at_frames(spatial, frame_positions(maps.shape[0], starts), count)


def write_overlays(
    loaded: LoadedModel,
    spec: WorldSpec,
    clips_per_class: int,
    cache_dir: Path,
    stats: DataStatistics,
    units: Sequence[dict],
    output: Path,
    device: torch.device,
    progress: bool = True,
) -> OverlayPart:
    """Measure and draw the overlay of every spatial unit on every clip its page shows (see the module doc)."""
    desc = loaded.description
    kinds = {info.name: info.kind for info in desc.layers}
    wanted = (
        shown_clips(kinds, units, stats) if stats.source.get("source", "synthetic") == "synthetic" else {}
    )
    root = Path(output)
    overlays: dict[tuple[str, int], Overlay | None] = {}
    written = cached = 0
    failed: list[tuple[str, str]] = []
    data = SyntheticClips(spec, SPLIT, clips_per_class, cache_dir, progress=False) if wanted else None
    starts = snippet_starts(spec)
    for clip, shown in tqdm(wanted.items(), desc="overlays", unit="clip", disable=not progress or not wanted):
        todo = []
        for unit in shown:
            high = float(stats.layers[unit["layer"]].peaks[unit["channel"]])
            files = overlay_files(SPLIT, clip, unit["unit_id"])
            record = _record(stats, unit["unit_id"], high)
            overlays[(unit["unit_id"], clip)] = Overlay(files[0], files[1], high)
            if _cached(root, files, record):
                cached += 1
            else:
                todo.append((unit, files, record))
        if not todo:
            continue
        assert data is not None
        frames = data.clip(clip).frames
        inputs = [x[None].to(device) for x in data[clip][:-1]]
        factor = display_factor(*frames.shape[1:3])
        by_layer: dict[str, np.ndarray | None] = {}
        for unit, files, record in todo:
            label = f"{files[0]}"
            try:
                if unit["layer"] not in by_layer:
                    by_layer[unit["layer"]] = layer_response_maps(
                        loaded.model, desc.layer(unit["layer"]), inputs
                    )
                maps = by_layer[unit["layer"]]
                assert maps is not None
                shown_frames, heat = clip_overlays(maps[unit["channel"]], frames, starts, factor)
                write_overlay(shown_frames, heat, 0.0, record["high"], root / files[0], root / files[1])
                write_json(root / files[2], record)
                written += 1
            except Exception as error:  # noqa: BLE001 - one bad encode must not stop the build
                overlays[(unit["unit_id"], clip)] = None
                failed.append((label, f"{type(error).__name__}: {error}".splitlines()[0][:300]))
    return OverlayPart(overlays, written, cached, tuple(failed))
