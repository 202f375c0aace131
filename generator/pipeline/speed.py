"""Speed-tuning invariance: every unit's top real clips replayed at several speeds.

For each unit the top ``SPEED_TOP_K`` held-out clips (from the data statistics) are
re-rendered from their seeds at ``SPEED_STEPS`` speed factors spaced geometrically over the
world's speed range (the same scene and cue, only faster or slower), and the unit's
per-clip ``mean`` response (the one class selectivity uses) is recorded. One forward pass
per batch of clips and speed serves every unit of every layer at once, through forward
hooks on every registry module; the responses of all units are then reduced by
:func:`generator.measures.invariance.response_flatness`. The result is cached beside the
statistics, so it is computed once per model and data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from generator.config import AtlasConfig
from generator.measures.activations import reduce_response
from generator.measures.invariance import response_flatness
from generator.pipeline.statistics import STATS_DIR, DataStatistics
from generator.store.atomic import atomic_path
from generator.store.keys import digest
from generator.train import world_spec
from generator.world import SyntheticClips, WorldSpec, render_clip, to_network_inputs
from generator.zoo import LoadedModel

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
) -> dict[str, np.ndarray] | None:
    """Per layer, every unit's speed-tuning invariance in [0, 1] (NaN where undefined); cached."""
    if stats.source.get("source") == "folder":
        return None  # real clips are not re-rendered at other speeds (see generator.data.speed)
    spec = world_spec(config)
    speeds = speed_factors(spec)
    layers = loaded.description.layer_names
    key = digest({"statistics": stats.key, "speeds": speeds, "top_k": SPEED_TOP_K})
    path = Path(output) / STATS_DIR / f"speed_{key}.npz"
    if path.is_file():
        with np.load(path) as data:
            if all(str(i) in data.files for i in range(len(layers))):
                return {name: data[str(i)] for i, name in enumerate(layers)}

    tops = {name: stats.layers[name].top_clips[:, :SPEED_TOP_K] for name in layers}
    clips = np.unique(np.concatenate([t.ravel() for t in tops.values()])).astype(np.int64)
    test = SyntheticClips(spec, "test", config.data.test_clips_per_class, config.data.cache_dir, progress=progress)
    responses = _replay(loaded, test, clips, spec, speeds, device, progress)  # layer -> (clips, units, speeds)
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


def _replay(
    loaded: LoadedModel,
    test: SyntheticClips,
    clips: np.ndarray,
    spec: WorldSpec,
    speeds: tuple[float, ...],
    device: torch.device,
    progress: bool,
) -> dict[str, np.ndarray]:
    desc = loaded.description
    model = loaded.model.to(device).eval()
    infos = list(desc.layers)
    out = {i.name: np.zeros((len(clips), i.units, len(speeds)), np.float32) for i in infos}
    captured: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(info.module).register_forward_hook(_capture(captured, info.name))
        for info in infos
        if info.kind != "class"
    ]
    total = len(speeds) * len(clips)
    try:
        with torch.inference_mode(), tqdm(total=total, desc="speed replay", unit="clip", disable=not progress,
                                          leave=False) as bar:  # fmt: skip
            for s, speed in enumerate(speeds):
                for start in range(0, len(clips), BATCH):
                    chunk = clips[start : start + BATCH]
                    rendered = (render_clip(test.clip_classes[c], int(test.seeds[c]), spec, speed=speed) for c in chunk)
                    batch = [to_network_inputs(clip, spec) for clip in rendered]
                    inputs = [torch.from_numpy(np.stack(parts)).to(device) for parts in zip(*batch)]
                    scores = model(*inputs)
                    captured.update({info.name: scores for info in infos if info.kind == "class"})
                    for info in infos:
                        mean, _, _ = reduce_response(captured[info.name].float(), info, len(chunk))
                        out[info.name][start : start + len(chunk), :, s] = mean.cpu().numpy()
                    bar.update(len(chunk))
    finally:
        for handle in handles:
            handle.remove()
    return out


def _capture(store: dict[str, torch.Tensor], name: str):
    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        store[name] = output.detach()

    return hook
