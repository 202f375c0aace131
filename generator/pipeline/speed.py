"""Speed-tuning invariance: every unit's top real clips replayed at several speeds.

For each unit the top ``SPEED_TOP_K`` held-out clips (from the data statistics) are
re-rendered from their seeds at ``SPEED_STEPS`` speed factors spaced geometrically over the
world's speed range (the same scene and cue, only faster or slower), and the unit's
per-clip ``mean`` response (the one class selectivity uses) is recorded. One forward pass
per batch of clips and speed serves every unit of every layer at once, through forward
hooks on every registry module; the responses of all units are then reduced by
:func:`generator.measures.invariance.response_flatness`. The result is cached beside the
statistics, so it is computed once per model and data. Clips of a data set on disk are not
rendered but resampled in time at ``REAL_SPEEDS`` (generator.data.speed); the same forward
passes and reduction then apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from generator.config import AtlasConfig
from generator.data.cache import load_inputs
from generator.data.dataset import prepare_all
from generator.data.layouts import relative_name
from generator.data.snippets import to_network_units
from generator.data.source import check_folder_source
from generator.data.speed import REAL_SPEEDS
from generator.measures.activations import reduce_response
from generator.measures.invariance import response_flatness
from generator.pipeline.statistics import STATS_DIR, DataStatistics
from generator.store.atomic import atomic_path
from generator.store.keys import digest
from generator.store.verify import npz_problem, sound
from generator.train import world_spec
from generator.world import SyntheticClips, WorldSpec, render_clip, to_network_inputs
from generator.zoo import LoadedModel
from generator.zoo.capture import recording

SPEED_TOP_K = 3
SPEED_STEPS = 4
BATCH = 32


def speed_factors(spec: WorldSpec, steps: int = SPEED_STEPS) -> tuple[float, ...]:
    """Speed factors spaced geometrically from the slowest to the fastest of the world."""
    low, high = spec.speed_range
    return tuple(float(s) for s in np.geomspace(low, high, steps))


def speed_invariance(
    loaded: LoadedModel,
    config: AtlasConfig,
    stats: DataStatistics,
    output: Path,
    device: torch.device,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Per layer, every unit's speed-tuning invariance in [0, 1] (NaN where undefined); cached.

    Synthetic clips are re-rendered at each speed; clips of a data set on disk are resampled in
    time (generator.data.speed: faster by skipped frames, slower by rescaled flow)."""
    folder = stats.source.get("source") == "folder"
    spec = world_spec(config)
    speeds = REAL_SPEEDS if folder else speed_factors(spec)
    layers = loaded.description.layer_names
    key = digest({"statistics": stats.key, "speeds": speeds, "top_k": SPEED_TOP_K})
    path = Path(output) / STATS_DIR / f"speed_{key}.npz"
    if sound(path, npz_problem):  # a damaged file is removed and recomputed
        with np.load(path) as data:
            if all(str(i) in data.files for i in range(len(layers))):
                return {name: data[str(i)] for i, name in enumerate(layers)}

    tops = {name: stats.layers[name].top_clips[:, :SPEED_TOP_K] for name in layers}
    clips = np.unique(np.concatenate([t.ravel() for t in tops.values()])).astype(np.int64)
    if folder:
        inputs_of = _folder_inputs(loaded, config, stats, clips, speeds, progress)
    else:
        inputs_of = _synthetic_inputs(config, spec, progress)
    responses = _replay(loaded, clips, speeds, inputs_of, device, progress)  # layer -> (clips, units, speeds)
    position = {int(c): i for i, c in enumerate(clips)}
    result = {}
    for name in layers:
        rows = np.vectorize(position.__getitem__, otypes=[np.int64])(tops[name])  # (units, k)
        per_unit = responses[name][rows, np.arange(rows.shape[0])[:, None], :]  # (units, k, speeds)
        result[name] = response_flatness(per_unit)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{str(i): result[name] for i, name in enumerate(layers)})
    return result


InputsOf = Callable[[int, float], Sequence[np.ndarray]]
"""(clip index, speed) -> the clip's network inputs at that speed (None where it cannot be replayed)."""


def _synthetic_inputs(config: AtlasConfig, spec: WorldSpec, progress: bool) -> InputsOf:
    test = SyntheticClips(
        spec, "test", config.data.test_clips_per_class, config.data.cache_dir, progress=progress
    )

    def inputs_of(clip: int, speed: float) -> Sequence[np.ndarray]:
        return to_network_inputs(
            render_clip(test.clip_classes[clip], int(test.seeds[clip]), spec, speed=speed), spec
        )

    return inputs_of


def _folder_inputs(
    loaded: LoadedModel,
    config: AtlasConfig,
    stats: DataStatistics,
    clips: np.ndarray,
    speeds: tuple[float, ...],
    progress: bool,
) -> InputsOf:
    """Each needed clip of the data set prepared (and cached) at every speed."""
    checked = check_folder_source(loaded, config)
    by_name = {relative_name(entry.path, checked.listing.root): entry for entry in checked.listing.clips}
    names = stats.source["clips"]
    entries = [by_name[names[int(c)]] for c in clips]
    prepared = {}
    for speed in speeds:
        plan = replace(checked.plan, speed=speed)
        outcomes = prepare_all(entries, plan, config.data.cache_dir, config.data.folder.workers, progress)
        prepared.update({(int(c), speed): out.folder for c, out in zip(clips, outcomes)})
    inputs = checked.plan.inputs

    def inputs_of(clip: int, speed: float) -> Sequence[np.ndarray] | None:
        folder = prepared[(clip, speed)]
        return (
            None
            if folder is None
            else to_network_units(load_inputs(folder, [s.name for s in inputs]), inputs)
        )

    return inputs_of


def _replay(
    loaded: LoadedModel,
    clips: np.ndarray,
    speeds: tuple[float, ...],
    inputs_of: InputsOf,
    device: torch.device,
    progress: bool,
) -> dict[str, np.ndarray]:
    desc = loaded.description
    model = loaded.model.to(device).eval()
    infos = list(desc.layers)
    out = {i.name: np.full((len(clips), i.units, len(speeds)), np.nan, np.float32) for i in infos}
    total = len(speeds) * len(clips)
    with recording(
        model, {info.name: info.module for info in infos if info.kind != "class"}, detach=True
    ) as captured:
        with (
            torch.inference_mode(),
            tqdm(total=total, desc="speed replay", unit="clip", disable=not progress, leave=False) as bar,
        ):
            for s, speed in enumerate(speeds):
                for start in range(0, len(clips), BATCH):
                    chunk = clips[start : start + BATCH]
                    made = [(row, inputs_of(int(c), speed)) for row, c in enumerate(chunk, start)]
                    rows = [
                        row for row, parts in made if parts is not None
                    ]  # a clip too short to replay: NaN
                    bar.update(len(chunk))
                    if not rows:
                        continue
                    batch = [parts for _, parts in made if parts is not None]
                    inputs = [torch.from_numpy(np.stack(parts)).to(device) for parts in zip(*batch)]
                    scores = model(*inputs)
                    captured.update({info.name: scores for info in infos if info.kind == "class"})
                    for info in infos:
                        mean, _, _ = reduce_response(captured[info.name].float(), info, len(rows))
                        out[info.name][rows, :, s] = mean.cpu().numpy()
    return out
