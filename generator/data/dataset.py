"""FolderClips: a torch Dataset of the clips of a data set on disk, served like SyntheticClips.

Every listed clip is prepared once (decoded, fitted to the model's inputs, flow computed if
needed) in worker processes and cached (generator.data.cache). A clip that cannot be used
(undecodable, too short, a frame count other than its list says) is skipped and listed in
``skipped`` with its reason; it never stops the build. Items are (input 1, input 2, ...,
label) in network units, labels indexing the model's classes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from generator.data.cache import content_digest, entry_folder, entry_key, load_inputs, read_entry, write_entry
from generator.data.decode import ClipError
from generator.data.flow import check_tvl1, flow_settings
from generator.data.layouts import ClipEntry, Listing, relative_name
from generator.data.snippets import ClipPlan, prepare_clip, to_network_units
from generator.pipeline.workers import exit_with_parent
from generator.zoo.spec import InputSpec


@dataclass(frozen=True)
class Skipped:
    """A listed clip that is not measured, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Prepared:
    """The outcome of preparing one clip: its cache folder, or the reason it is skipped."""

    folder: Path | None
    reason: str | None = None
    computed: bool = False  # prepared now (False: found in the cache)


def plan_settings(plan: ClipPlan) -> dict[str, Any]:
    """Everything that changes a clip's stored form (the cache key's settings)."""
    return {**plan.settings(), "flow_settings": flow_settings(plan.flow, plan.raft_weights)}


def _locate(
    entry: ClipEntry, cache_dir: Path, settings: dict[str, Any]
) -> tuple[Path | None, Prepared | None]:
    """The clip's cache folder and, when it needs no work (cached, or its file unreadable), its outcome."""
    try:
        key = entry_key(content_digest(entry), entry, settings)
    except ClipError as error:
        return None, Prepared(None, str(error), computed=True)
    folder = entry_folder(cache_dir, key)
    found = read_entry(folder)
    if found is None:
        return folder, None
    return folder, Prepared(folder if found["ok"] else None, found.get("reason"))


def cached(entry: ClipEntry, cache_dir: Path, settings: dict[str, Any]) -> Prepared | None:
    """The clip's outcome when it needs no work (found in the cache, or its file unreadable), else None."""
    return _locate(entry, cache_dir, settings)[1]


def prepare(entry: ClipEntry, plan: ClipPlan, cache_dir: Path, settings: dict[str, Any]) -> Prepared:
    """Prepare and cache one clip (or find it cached); a clip that cannot be used is cached as its reason."""
    folder, known = _locate(entry, cache_dir, settings)
    if known is not None or folder is None:
        return known  # type: ignore[return-value]
    try:
        arrays = prepare_clip(entry, plan)
    except ClipError as error:
        write_entry(folder, None, str(error))
        return Prepared(None, str(error), computed=True)
    write_entry(folder, arrays)
    return Prepared(folder, computed=True)


def _worker_start() -> None:
    """A preparing worker: one OpenCV thread (the workers are the parallelism) and gone with its parent."""
    import cv2

    cv2.setNumThreads(1)
    exit_with_parent()


def _prepare_star(args: tuple) -> Prepared:
    return prepare(*args)


def prepare_all(
    entries: Iterable[ClipEntry], plan: ClipPlan, cache_dir: Path, workers: int = 1, progress: bool = True
) -> list[Prepared]:
    """Prepare every clip, in order, in up to ``workers`` processes (RAFT runs in this process)."""
    entries = list(entries)
    if plan.flow == "tvl1" and any(s.kind == "flow" for s in plan.inputs):
        check_tvl1()  # one clear error before any work, not one per clip
    settings = plan_settings(plan)
    # Clips found in the cache are answered here: a pool of worker processes (each importing torch)
    # starts only for clips that need work.
    results: list[Prepared | None] = [cached(entry, Path(cache_dir), settings) for entry in entries]
    todo = [i for i, known in enumerate(results) if known is None]
    done = _prepare_jobs(
        [(entries[i], plan, Path(cache_dir), settings) for i in todo], plan, workers, progress
    )
    for i, outcome in zip(todo, done):
        results[i] = outcome
    return results  # type: ignore[return-value]


def _prepare_jobs(jobs: list[tuple], plan: ClipPlan, workers: int, progress: bool) -> list[Prepared]:
    bar = tqdm(total=len(jobs), desc="preparing clips", unit="clip", disable=not progress, leave=False)
    try:
        if workers > 1 and plan.flow != "raft" and len(jobs) > 1:
            # spawn, not fork: a forked child of a process whose OpenCV thread pool is running (TV-L1 ran
            # here before) waits forever on that pool's locks.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=min(workers, len(jobs)), mp_context=context, initializer=_worker_start
            ) as pool:
                results = []
                for result in pool.map(_prepare_star, jobs, chunksize=1):
                    results.append(result)
                    bar.update(1)
                return results
        results = []
        for job in jobs:
            results.append(prepare(*job))
            bar.update(1)
        return results
    finally:
        bar.close()


def clip_tensors(stored: dict[str, np.ndarray], inputs: tuple[InputSpec, ...]) -> tuple[torch.Tensor, ...]:
    """A prepared clip's stored form as the network's input tensors, each (channels, frames, H, W)."""
    return tuple(torch.from_numpy(np.ascontiguousarray(u)) for u in to_network_units(stored, inputs))


class FolderClips(Dataset):
    """The usable clips of ``listing``, prepared for the model inputs of ``plan``.

    ``class_index`` maps each data set class to the index of the model output it is (see
    generator.data.classes); ``labels`` and ``class_names`` follow the model's classes.
    """

    def __init__(
        self,
        listing: Listing,
        plan: ClipPlan,
        cache_dir: Path,
        class_index: dict[str, int],
        class_names: tuple[str, ...],
        workers: int = 1,
        progress: bool = True,
    ) -> None:
        self.listing, self.plan, self.class_names = listing, plan, class_names
        outcomes = prepare_all(listing.clips, plan, cache_dir, workers, progress)
        kept = [(entry, out) for entry, out in zip(listing.clips, outcomes) if out.folder is not None]
        self.entries: tuple[ClipEntry, ...] = tuple(entry for entry, _ in kept)
        self.folders: tuple[Path, ...] = tuple(out.folder for _, out in kept)  # type: ignore[misc]
        self.skipped: tuple[Skipped, ...] = tuple(
            Skipped(relative_name(entry.path, listing.root), out.reason or "unknown")
            for entry, out in zip(listing.clips, outcomes)
            if out.folder is None
        )
        self.computed = sum(out.computed for out in outcomes)
        self.labels = np.array([class_index[entry.label] for entry in self.entries], dtype=np.int64)
        self.clip_classes: tuple[str, ...] = tuple(class_names[i] for i in self.labels)
        self.names: tuple[str, ...] = tuple(relative_name(entry.path, listing.root) for entry in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def stored(self, index: int) -> dict[str, np.ndarray]:
        """The stored form (uint8) of clip ``index``: RGB (3, T, H, W) and flow bytes (2L, T, H, W)."""
        return load_inputs(self.folders[index], [spec.name for spec in self.plan.inputs])

    def __getitem__(self, index: int) -> tuple:
        return (*clip_tensors(self.stored(index), self.plan.inputs), int(self.labels[index]))
