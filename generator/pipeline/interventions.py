"""The model's answers on edited held-out clips: one stream zeroed, time reversed, frames
frozen (every test clip), and the single-stream versions of each probe (a probe clip's
appearance with its ordinary twin's flow, and the other way round).

Probe clips are re-renderings of test clips from the same seeds, so each has an ordinary
twin in the test split; a single-stream probe changes only one stream of that twin. The
answers are cached beside the data statistics, under the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from generator.config import AtlasConfig
from generator.data.source import folder_clips
from generator.measures.activations import collect_activations
from generator.pipeline.statistics import STATS_DIR, DataStatistics
from generator.store.atomic import atomic_path
from generator.train import world_spec
from generator.world import PROBES, SyntheticClips
from generator.world.interventions import INTERVENTIONS
from generator.zoo import LoadedModel

SINGLE_STREAM = ("appearance_only", "flow_only")
"""Probe versions that take one stream from the probe clip and the other from its ordinary twin."""


@dataclass(frozen=True)
class InterventionAnswers:
    """Predicted class indices on edited clips (-1 where a probe clip has no ordinary twin)."""

    test: dict[str, np.ndarray]  # intervention -> answers on the test split, in its order
    probes: dict[str, dict[str, np.ndarray]]  # probe -> single-stream version -> answers on the probe set
    twins: dict[str, np.ndarray]  # probe -> index in the test split of each probe clip's twin, or -1


def twin_indices(probe_seeds: np.ndarray, test_seeds: np.ndarray) -> np.ndarray:
    """For each probe clip, the test clip rendered from the same seed (-1 if the test split has none)."""
    where = {int(seed): i for i, seed in enumerate(test_seeds)}
    return np.array([where.get(int(seed), -1) for seed in probe_seeds], dtype=np.int64)


class _OneStreamSwapped(Dataset):
    """Probe clips with one stream taken back from their ordinary twins (only clips that have one)."""

    def __init__(self, probe: Dataset, test: Dataset, twins: np.ndarray, keep_from_probe: str) -> None:
        self.probe, self.test, self.keep = probe, test, keep_from_probe
        self.pairs = [(int(i), int(j)) for i, j in enumerate(twins) if j >= 0]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, int]:
        i, j = self.pairs[index]
        probe_appearance, probe_motion, label = self.probe[i]
        twin_appearance, twin_motion, _ = self.test[j]
        if self.keep == "appearance_only":
            return probe_appearance, twin_motion, label
        return twin_appearance, probe_motion, label


def predict(
    model: torch.nn.Module,
    clips: Dataset,
    edit: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None,
    device: torch.device | str,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Top-1 answers of ``model`` on ``clips`` (appearance, motion, label) after ``edit``."""
    answers = []
    with torch.inference_mode():
        for appearance, motion, _ in tqdm(
            DataLoader(clips, batch_size=batch_size), desc="interventions", disable=not progress, leave=False
        ):
            inputs = (appearance.to(device), motion.to(device))
            answers.append(model(*(edit(*inputs) if edit else inputs)).argmax(dim=1).cpu().numpy())
    return np.concatenate(answers).astype(np.int64) if answers else np.zeros(0, dtype=np.int64)


def interventions_path(output: Path, key: str) -> Path:
    return Path(output) / STATS_DIR / f"interventions_{key}.npz"


def load_interventions(
    loaded: LoadedModel,
    config: AtlasConfig,
    output: Path,
    device: torch.device,
    stats: DataStatistics,
    progress: bool = False,
) -> InterventionAnswers:
    """Answers on every edit of the test split and every single-stream probe, computed once per statistics key."""
    path = interventions_path(output, stats.key)
    arrays: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
    probes = _probe_names(config)
    wanted = [f"test/{n}" for n in INTERVENTIONS] + [f"probe/{p}/{v}" for p in probes for v in SINGLE_STREAM]
    wanted += [f"twins/{p}" for p in probes]
    if not all(k in arrays for k in wanted):
        arrays = _compute(loaded, config, device, progress)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return InterventionAnswers(
        test={n: arrays[f"test/{n}"] for n in INTERVENTIONS},
        probes={p: {v: arrays[f"probe/{p}/{v}"] for v in SINGLE_STREAM} for p in probes},
        twins={p: arrays[f"twins/{p}"] for p in probes},
    )


def _probe_names(config: AtlasConfig) -> tuple[str, ...]:
    """The counterfactual probe sets: the synthetic world's; a data set on disk has none."""
    return () if config.data.source == "folder" else tuple(PROBES)


def _compute(
    loaded: LoadedModel, config: AtlasConfig, device: torch.device, progress: bool
) -> dict[str, np.ndarray]:
    data, spec = config.data, world_spec(config)
    model = loaded.model.to(device)
    if data.source == "folder":  # the same held-out clips as the statistics, from the prepared cache
        test = folder_clips(loaded, config, progress=progress)
    else:
        test = SyntheticClips(spec, "test", data.test_clips_per_class, data.cache_dir, progress=progress)
    arrays = {
        f"test/{name}": predict(model, test, edit, device, progress=progress)
        for name, edit in INTERVENTIONS.items()
    }
    for probe_name in _probe_names(config):
        probe = SyntheticClips(
            spec, f"probe:{probe_name}", data.probe_clips_per_class, data.cache_dir, progress=progress
        )
        twins = twin_indices(probe.seeds, test.seeds)
        arrays[f"twins/{probe_name}"] = twins
        for version in SINGLE_STREAM:
            answers = np.full(len(probe), -1, dtype=np.int64)
            answers[twins >= 0] = predict(model, _OneStreamSwapped(probe, test, twins, version), None, device)
            arrays[f"probe/{probe_name}/{version}"] = answers
    return arrays


def probe_unit_means(
    loaded: LoadedModel,
    config: AtlasConfig,
    device: torch.device,
    probe_name: str,
    twins: np.ndarray,
    unit_ids: list[str],
) -> dict[str, dict[str, float]]:
    """Mean (post-ReLU, spatially averaged) response of each unit over the probe clips that have
    an ordinary twin, and over those twins: unit id -> {"probe": ..., "ordinary": ...}."""
    if not unit_ids:
        return {}
    data, spec, desc = config.data, world_spec(config), loaded.description
    test = SyntheticClips(spec, "test", data.test_clips_per_class, data.cache_dir, progress=False)
    probe = SyntheticClips(
        spec, f"probe:{probe_name}", data.probe_clips_per_class, data.cache_dir, progress=False
    )
    kept = np.flatnonzero(twins >= 0)
    layers = list(dict.fromkeys(u.rsplit("/", 1)[0] for u in unit_ids))
    sets = {"probe": (probe, kept), "ordinary": (test, twins[kept])}
    means: dict[str, dict[str, float]] = {u: {} for u in unit_ids}
    for which, (clips, indices) in sets.items():
        labels = clips.labels[indices]
        stats = collect_activations(
            loaded.model, desc, Subset(clips, indices.tolist()), layers, top_k=1, device=device
        )
        counts = np.bincount(labels, minlength=len(desc.classes))
        for unit_id in unit_ids:
            layer, channel = unit_id.rsplit("/", 1)
            per_class = stats[layer].class_means[:, int(channel)]
            means[unit_id][which] = float((per_class * counts).sum() / max(counts.sum(), 1))
    return means
