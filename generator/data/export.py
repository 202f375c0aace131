"""Writing the synthetic world as a data set on disk, in a layout the folder source reads.

* ``ucf101``: ``<Class>/v_<Class>_gXX_cYY.mp4`` (H.264 at a low CRF), ``classInd.txt`` and
  ``testlist01.txt`` (or ``trainlist01.txt`` with class numbers, for the train split).
* ``frames``: ``<Class>/v_<Class>_gXX_cYY/img_00001.jpg`` for every frame and
  ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` for every flow field, the exact flow in the
  paper's 8-bit coding (+-20 px -> [0, 255]), with ``classInd.txt`` and ``list.txt`` of lines
  ``path num_frames label``.

Clips are written in the order of the split (class by class), each atomically (a clip folder
appears complete or not at all), and the list files last, so an interrupted export resumes and
never lists a clip that is not on disk.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from generator.media.video import write_mp4
from generator.store.atomic import write_bytes, write_text
from generator.world.classes import CLASSES
from generator.world.dataset import SyntheticClips
from generator.world.flow import flow_to_bytes
from generator.world.spec import WorldSpec

LAYOUTS = ("ucf101", "frames")
RGB_QUALITY = 95
FLOW_QUALITY = 100  # flow JPEGs carry numbers, not pictures: keep their 8-bit codes as close as JPEG allows
VIDEO_CRF = 4
VIDEO_FPS = 25


def clip_name(class_name: str, index: int) -> str:
    """UCF101-style name of the ``index``-th clip of a class: four clips per group."""
    return f"v_{class_name}_g{index // 4 + 1:02d}_c{index % 4 + 1:02d}"


def jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a uint8 image (H, W) or (H, W, 3)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def export_world(
    spec: WorldSpec,
    split: str,
    clips_per_class: int,
    cache_dir: Path,
    out: Path,
    layout: str,
    progress: bool = True,
) -> Path:
    """Write ``clips_per_class`` clips per class of ``split`` as a ``layout`` data set under ``out``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    clips = SyntheticClips(spec, split, clips_per_class, cache_dir, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (class_name, number) in tqdm(
        list(enumerate(_numbered(clips.clip_classes))),
        desc=f"export {layout}",
        unit="clip",
        disable=not progress,
    ):
        name = clip_name(class_name, number)
        rel = f"{class_name}/{name}"
        if layout == "frames":
            count = _write_frames_clip(clips, index, out / rel)
            lines.append(f"{rel} {count} {CLASSES.index(class_name)}")
        else:
            target = out / f"{rel}.mp4"
            if not target.is_file():
                write_mp4(
                    clips.clip(index).frames,
                    target,
                    fps=VIDEO_FPS,
                    crf=VIDEO_CRF,
                    preset="medium",
                    min_seconds=0.0,
                )
            lines.append(f"{rel}.mp4" if split != "train" else f"{rel}.mp4 {CLASSES.index(class_name) + 1}")
    write_text(out / "classInd.txt", "".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    list_name = (
        "list.txt" if layout == "frames" else ("trainlist01.txt" if split == "train" else "testlist01.txt")
    )
    write_text(out / list_name, "".join(line + "\n" for line in lines))
    return out


def _numbered(classes: tuple[str, ...]) -> Iterator[tuple[str, int]]:
    seen: dict[str, int] = {}
    for name in classes:
        yield name, seen.get(name, 0)
        seen[name] = seen.get(name, 0) + 1


def _write_frames_clip(clips: SyntheticClips, index: int, folder: Path) -> int:
    """Write one clip's frame and flow JPEGs as ``folder`` (atomically); its frame count."""
    clip = clips.clip(index)
    count = len(clip.frames)
    if folder.is_dir() and len(list(folder.glob("img_*.jpg"))) == count:
        return count  # written by an earlier run (folders appear only complete)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for t, frame in enumerate(clip.frames, 1):
            write_bytes(tmp / f"img_{t:05d}.jpg", jpeg(frame, RGB_QUALITY))
        coded = flow_to_bytes(clip.flow)
        for t, field in enumerate(coded, 1):
            write_bytes(tmp / f"flow_x_{t:05d}.jpg", jpeg(field[..., 0], FLOW_QUALITY))
            write_bytes(tmp / f"flow_y_{t:05d}.jpg", jpeg(field[..., 1], FLOW_QUALITY))
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return count
