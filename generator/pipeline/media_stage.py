"""The media stage: videos and posters of stored visualizations and of the real clips the atlas shows.

A visualization's media go to ``media/<unit path>/<result file stem>_<kind>.mp4|png``, so
they are keyed like the result they show; a real clip's go to
``clips/<split>_<index>/clip_<kind>.mp4|png``. A job whose files all exist and read back
whole is skipped (a damaged file is removed, logged and written again): the stage is idempotent
and an interrupted run continues where it stopped. Jobs run in a small process pool; a job
that fails (an encoder error) is reported and leaves its row without media, it never stops
the build.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from generator.media.kinds import kinds_written
from generator.pipeline.workers import exit_with_parent
from generator.store.keys import unit_path
from generator.store.space import DiskFull, files_bytes, folder_bytes, megabytes
from generator.store.verify import file_problem, sound
from generator.world.spec import WorldSpec

MEDIA_DIR = "media"
CLIPS_DIR = "clips"
CLIP_STEM = "clip"
MEDIA_WORKERS = 2
# Seconds per media set and per process, for the dry-run estimate: measured in the default
# build on a 2-core CPU (bench/results/notes.md).
SECONDS_PER_RESULT = 0.15
SECONDS_PER_CLIP = 0.16
# A media set's size when none is on disk to measure: 4 MP4s and 4 PNGs at 256 px, the larger of
# bench/results/media_cpu.txt's figures.
MEDIA_SET_BYTES = 79 * 1024


def media_folder(unit_id: str) -> str:
    """Folder (relative to the atlas) of a unit's visualization media."""
    return f"{MEDIA_DIR}/{unit_path(unit_id)}"


def clip_folder(split: str, index: int) -> str:
    """Folder (relative to the atlas) of a real clip's media, e.g. ``clips/test_17``."""
    return f"{CLIPS_DIR}/{split.replace(':', '-')}_{int(index)}"


def expected_media(folder: str, stem: str, has_rgb: bool, has_flow: bool) -> dict[str, str]:
    """The paths :func:`generator.media.write_frame_set` writes for these inputs (relative, POSIX)."""
    paths: dict[str, str] = {}
    for kind in kinds_written(has_rgb, has_flow):
        paths[kind] = f"{folder}/{stem}_{kind}.mp4"
        paths[f"{kind}_poster"] = f"{folder}/{stem}_{kind}.png"
    if not has_flow and has_rgb:
        paths["composite"], paths["composite_poster"] = paths["appearance"], paths["appearance_poster"]
    return paths


@dataclass(frozen=True)
class ResultMediaJob:
    """The media of one stored visualization (its .npz result)."""

    result: Path
    folder: str
    stem: str
    rgb: str | None  # name of the RGB input, if any
    flow: str | None  # name of the flow input, if any
    mean: tuple[float, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.folder}/{self.stem}"

    def expected(self) -> dict[str, str]:
        return expected_media(self.folder, self.stem, self.rgb is not None, self.flow is not None)

    def write(self, root: Path) -> dict[str, str]:
        from generator.media import write_media_set
        from generator.store.results import load_result

        inputs = load_result(self.result).inputs
        return write_media_set(
            root / self.folder,
            self.stem,
            root=root,
            appearance=inputs[self.rgb] if self.rgb else None,
            motion=inputs[self.flow] if self.flow else None,
            mean=self.mean,
        )


@dataclass(frozen=True)
class ClipMediaJob:
    """The media of one real clip, re-rendered from its seed (all frames, exact flow)."""

    split: str
    index: int
    class_name: str
    seed: int
    probe: str | None
    spec: WorldSpec = field(repr=False)

    @property
    def folder(self) -> str:
        return clip_folder(self.split, self.index)

    @property
    def label(self) -> str:
        return self.folder

    def expected(self) -> dict[str, str]:
        return expected_media(self.folder, CLIP_STEM, True, True)

    def write(self, root: Path) -> dict[str, str]:
        from generator.media import write_frame_set
        from generator.world.render import render_clip

        clip = render_clip(self.class_name, self.seed, self.spec, probe=self.probe)
        return write_frame_set(root / self.folder, CLIP_STEM, rgb=clip.frames, flow=clip.flow, root=root)


@dataclass(frozen=True)
class FolderClipMediaJob:
    """The media of one clip of a data set on disk: the snippets the network saw (their frames and flow
    stacks), read from the clip's prepared cache folder."""

    split: str
    index: int
    cache: Path
    rgb: str | None  # name of the RGB input, if any
    flow: str | None  # name of the flow input, if any

    @property
    def folder(self) -> str:
        return clip_folder(self.split, self.index)

    @property
    def label(self) -> str:
        return self.folder

    def expected(self) -> dict[str, str]:
        return expected_media(self.folder, CLIP_STEM, self.rgb is not None, self.flow is not None)

    def write(self, root: Path) -> dict[str, str]:
        import numpy as np

        from generator.media import write_frame_set
        from generator.world.flow import bytes_to_code, decode_flow

        rgb = flow = None
        if self.rgb:
            rgb = np.load(self.cache / f"{self.rgb}.npy").transpose(1, 2, 3, 0)  # (T, H, W, 3)
        if self.flow:
            codes = np.load(self.cache / f"{self.flow}.npy")  # (2L, T, H, W) bytes
            c, t, h, w = codes.shape
            pixels = decode_flow(bytes_to_code(codes)).reshape(c // 2, 2, t, h, w)
            flow = pixels.transpose(2, 0, 3, 4, 1)  # (T, L, H, W, 2)
        return write_frame_set(root / self.folder, CLIP_STEM, rgb=rgb, flow=flow, root=root)


Job = ResultMediaJob | ClipMediaJob | FolderClipMediaJob


@dataclass(frozen=True)
class MediaOutcome:
    """Media paths per job (None where it failed), and what was written, reused and failed."""

    paths: dict[Job, dict[str, str] | None]
    written: int
    cached: int
    failed: tuple[tuple[str, str], ...]


def run_media_jobs(
    jobs: list[Job], root: Path, workers: int = MEDIA_WORKERS, progress: bool = True, desc: str = "media"
) -> MediaOutcome:
    """Write the media of every job whose files do not all exist yet; return every job's paths."""
    root = Path(root)
    paths: dict[Job, dict[str, str] | None] = {}
    todo: list[Job] = []
    for job in dict.fromkeys(jobs):
        expected = job.expected()
        # Every file is checked (a list, not a short-cut), so each damaged one is logged; the job rewrites them.
        if all([sound(root / p, file_problem) for p in expected.values()]):
            paths[job] = expected
        else:
            todo.append(job)
    cached = len(paths)
    failed: list[tuple[str, str]] = []
    with tqdm(
        total=len(todo), desc=desc, unit="set", disable=not progress or not todo, dynamic_ncols=True
    ) as bar:
        if workers > 1 and len(todo) > 1:
            context = multiprocessing.get_context(start_method())
            with ProcessPoolExecutor(
                max_workers=min(workers, len(todo)), mp_context=context, initializer=exit_with_parent
            ) as pool:
                futures = {pool.submit(_write, job, root): job for job in todo}
                for future in as_completed(futures):
                    _collect(futures[future], future.result(), paths, failed)
                    bar.update(1)
        else:
            for job in todo:
                _collect(job, _write(job, root), paths, failed)
                bar.update(1)
    full = next((reason for _, reason in failed if "No space left on device" in reason), None)
    if full is not None:  # not one bad encode: every further write fails too, so stop the build here
        raise media_shortage(root, paths, len(failed))
    return MediaOutcome(paths=paths, written=len(todo) - len(failed), cached=cached, failed=tuple(failed))


def media_shortage(root: Path, written: dict[Job, dict[str, str] | None], unwritten: int) -> DiskFull:
    """The full-disk error of the media stage, with the space its unwritten sets need: their number
    times the average size of the sets on disk (MEDIA_SET_BYTES when none is), plus the tables and
    the site again (a rebuild writes them beside the old ones before the swap)."""
    sets = [set(p.values()) for p in written.values() if p]
    average = files_bytes(root / f for files in sets for f in files) / len(sets) if sets else MEDIA_SET_BYTES
    rewritten = folder_bytes(root / "tables") + folder_bytes(root / "site")
    what = (
        f"{unwritten} media sets still to write at {megabytes(int(average))} each"
        + (
            f" (the average of the {len(sets)} on disk)"
            if sets
            else " (measured in bench/results/media_cpu.txt)"
        )
        + (f", and the tables and site rewritten ({megabytes(rewritten)})" if rewritten else "")
    )
    return DiskFull(root, int(unwritten * average) + rewritten, what)


def start_method() -> str:
    """fork where available: workers start at once and need no importable ``__main__``. They only
    run numpy and ffmpeg, never torch, so the parent's torch thread pools do not matter."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _write(job: Job, root: Path) -> dict[str, str] | str:
    """The job's paths, or the reason it failed (exceptions stay inside the worker)."""
    try:
        return job.write(root)
    except Exception as error:  # noqa: BLE001 - one bad encode must not stop the build
        return f"{type(error).__name__}: {error}".splitlines()[0][:300]


def _collect(job: Job, outcome: dict[str, str] | str, paths: dict, failed: list) -> None:
    if isinstance(outcome, str):
        paths[job] = None
        failed.append((job.label, outcome))
    else:
        paths[job] = outcome
