"""SyntheticClips: a cached, memory-mapped torch Dataset of rendered clips for one split or probe set.

On first use every clip is rendered (with a progress bar) into .npy arrays written with open_memmap
inside a temporary folder, which is renamed into place only when complete: a killed generation leaves
only a temporary folder that is never read. The folder name carries a hash of (spec, split,
clips_per_class, world code version), so any change to the world's code or settings renders afresh.
Appearance is stored as uint8 RGB and motion in the paper's 8-bit flow coding (byte = code + 128).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.format import open_memmap
from torch.utils.data import Dataset
from tqdm import tqdm

from generator.errors import ConfigError
from generator.world.classes import CLASSES, PROBES
from generator.world.inputs import network_units, stored_inputs
from generator.world.render import Clip, render_clip
from generator.world.seeds import derive_seed
from generator.world.spec import WorldSpec

SPLITS = ("train", "val", "test")
PROBE_PREFIX = "probe:"
STORAGE_FORMAT = 1
"""Bump when the stored arrays change meaning; together with the code digest it keys the cache."""

_META = "meta.json"


def world_code_digest() -> str:
    """sha256 of this package's source files: any change to how clips are made invalidates caches."""
    digest = hashlib.sha256(f"format={STORAGE_FORMAT}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def parse_split(split: str) -> tuple[str, str | None, tuple[str, ...]]:
    """split -> (seed split, probe, classes). Probe sets re-use the test split's clips (same seeds), so a
    probe clip is the counterfactual twin of a held-out test clip."""
    if split in SPLITS:
        return split, None, CLASSES
    if split.startswith(PROBE_PREFIX) and split[len(PROBE_PREFIX) :] in PROBES:
        probe = split[len(PROBE_PREFIX) :]
        return "test", probe, PROBES[probe]
    valid = ", ".join([*SPLITS, *(PROBE_PREFIX + p for p in PROBES)])
    raise ConfigError(f"Unknown data split {split!r}; valid splits are: {valid}.")


def cache_key(spec: WorldSpec, split: str, clips_per_class: int) -> str:
    payload = {
        "spec": spec.as_dict(),
        "split": split,
        "clips_per_class": clips_per_class,
        "world": world_code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class SyntheticClips(Dataset):
    """Rendered clips of one split ("train", "val", "test") or probe set ("probe:<name>").

    Items are (appearance float32 (3, T, H, W), motion float32 (2L, T, H, W), label int) in network
    units; labels index `class_names` (= CLASSES, also for probe sets, which hold only their classes).
    Clips are ordered class by class, `clips_per_class` each.
    """

    def __init__(
        self,
        spec: WorldSpec,
        split: str,
        clips_per_class: int,
        cache_dir: str | os.PathLike[str],
        progress: bool = True,
    ) -> None:
        if isinstance(clips_per_class, bool) or not isinstance(clips_per_class, int) or clips_per_class < 1:
            raise ConfigError(f"'clips_per_class' must be a positive integer, got {clips_per_class!r}.")
        seed_split, self.probe, classes = parse_split(split)
        self.spec, self.split, self.clips_per_class = spec, split, clips_per_class
        self.class_names: tuple[str, ...] = CLASSES
        self.clip_classes: tuple[str, ...] = tuple(c for c in classes for _ in range(clips_per_class))
        self.labels = np.array([CLASSES.index(c) for c in self.clip_classes], dtype=np.int64)
        self.seeds = np.array(
            [derive_seed(spec.seed, seed_split, c, i) for c in classes for i in range(clips_per_class)],
            dtype=np.uint64,
        )
        safe = split.replace(":", "-")
        self.path = (
            Path(cache_dir) / f"{safe}-n{clips_per_class}-{cache_key(spec, split, clips_per_class)[:16]}"
        )
        self.generated = False
        if not (self.path / _META).is_file():
            self._generate(progress)
            self.generated = True
        self._arrays: dict[str, np.ndarray] | None = None
        self.speeds = np.load(self.path / "speeds.npy")

    def __len__(self) -> int:
        return len(self.labels)

    def _generate(self, progress: bool) -> None:
        spec, count = self.spec, len(self.labels)
        t, l, s = spec.snippets, spec.flow_fields, spec.size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.parent / f".{self.path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            appearance = open_memmap(
                tmp / "appearance.npy", mode="w+", dtype=np.uint8, shape=(count, 3, t, s, s)
            )
            motion = open_memmap(tmp / "motion.npy", mode="w+", dtype=np.uint8, shape=(count, 2 * l, t, s, s))
            speeds = np.zeros(count, dtype=np.float32)
            for i in tqdm(
                range(count), desc=f"rendering {self.split} clips", unit="clip", disable=not progress
            ):
                clip = self.clip(i)
                appearance[i], motion[i] = stored_inputs(clip, spec)
                speeds[i] = clip.speed
            appearance.flush()
            motion.flush()
            del appearance, motion
            np.save(tmp / "labels.npy", self.labels)
            np.save(tmp / "seeds.npy", self.seeds)
            np.save(tmp / "speeds.npy", speeds)
            meta = {
                "spec": spec.as_dict(),
                "split": self.split,
                "clips_per_class": self.clips_per_class,
                "classes": list(CLASSES),
                "world": world_code_digest(),
                "count": count,
            }
            (tmp / _META).write_text(json.dumps(meta, indent=1))
            try:
                os.rename(tmp, self.path)  # atomic: the folder appears complete or not at all
            except OSError:
                if not (self.path / _META).is_file():  # not a concurrent writer that finished first
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {
                n: np.load(self.path / f"{n}.npy", mmap_mode="r") for n in ("appearance", "motion")
            }
        return self._arrays

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        arrays = self._open()
        appearance, motion = network_units(arrays["appearance"][index], arrays["motion"][index])
        return torch.from_numpy(appearance), torch.from_numpy(motion), int(self.labels[index])

    def clip(self, index: int) -> Clip:
        """The full clip re-rendered from its seed (all frames, exact float flow)."""
        return render_clip(self.clip_classes[index], int(self.seeds[index]), self.spec, probe=self.probe)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = None  # memory maps are reopened in each worker process
        return state
