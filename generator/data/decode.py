"""Reading a clip from disk into uint8 frames, and fitting frames and flow to a network's input size.

Videos are decoded through imageio-ffmpeg (any container ffmpeg reads); frames folders are
JPEGs read with Pillow. Every failure (a missing or undecodable file, a truncated JPEG) is a
:class:`ClipError`, which the data set records as the clip's reason to be skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from PIL import Image

from generator.data.layouts import ClipEntry
from generator.world.flow import bytes_to_code, decode_flow, flow_to_bytes

IMAGE_PATTERN = re.compile(r"^img_(\d+)\.jpe?g$", re.IGNORECASE)
FLOW_X = re.compile(r"^flow_x_(\d+)\.jpe?g$", re.IGNORECASE)
FLOW_Y = re.compile(r"^flow_y_(\d+)\.jpe?g$", re.IGNORECASE)


class ClipError(Exception):
    """A clip that cannot be used (its message is the reason recorded in the manifest)."""


def read_video(path: Path, start: float | None = None, end: float | None = None) -> np.ndarray:
    """uint8 RGB frames (F, H, W, 3) of a video file (between ``start`` and ``end`` seconds if given)."""
    if not path.is_file():
        raise ClipError(f"the file {path} does not exist")
    inputs = ["-ss", f"{start:.3f}"] if start else []
    outputs = ["-t", f"{end - (start or 0.0):.3f}"] if end is not None else []
    try:
        reader = imageio_ffmpeg.read_frames(str(path), input_params=inputs, output_params=outputs)
        try:
            meta = next(reader)
            w, h = meta["size"]
            frames = [np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3) for buf in reader]
        finally:
            reader.close()
    except (OSError, RuntimeError, StopIteration, ValueError, KeyError) as error:
        raise ClipError(f"ffmpeg cannot decode {path}: {_short(error)}") from None
    if not frames:
        raise ClipError(f"ffmpeg decoded no frames from {path}")
    return np.stack(frames)


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[-300:] if text else type(error).__name__


def numbered(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """The files of ``folder`` whose names match ``pattern``, in the order of their number."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return [p for _, p in sorted(found)]


def read_image(path: Path, mode: str) -> np.ndarray:
    """A JPEG (or any image Pillow reads) as uint8, ``mode`` 'RGB' (H, W, 3) or 'L' (H, W)."""
    try:
        with Image.open(path) as image:
            image.load()  # a truncated file fails here, not later
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as error:
        raise ClipError(f"cannot read the image {path}: {_short(error)}") from None


def frame_files(entry: ClipEntry) -> list[Path]:
    """The RGB frames of a frames-layout clip, checked against the list file's frame count."""
    files = numbered(entry.path, IMAGE_PATTERN)
    if not entry.path.is_dir():
        raise ClipError(f"the frames folder {entry.path} does not exist")
    if entry.num_frames is not None and len(files) != entry.num_frames:
        raise ClipError(
            f"the list file gives {entry.num_frames} frames but {entry.path} holds {len(files)} img_ files"
        )
    return files


def flow_files(entry: ClipEntry) -> tuple[list[Path], list[Path]]:
    """The flow_x / flow_y (or u/ v/) JPEGs of a frames-layout clip, one pair per field."""
    xs, ys = numbered(entry.path, FLOW_X), numbered(entry.path, FLOW_Y)
    if not xs and (entry.path / "u").is_dir():
        xs, ys = sorted((entry.path / "u").glob("*.jp*g")), sorted((entry.path / "v").glob("*.jp*g"))
    if not xs or len(xs) != len(ys):
        raise ClipError(
            f"{entry.path} holds {len(xs)} x and {len(ys)} y flow images; precomputed flow needs "
            "matching flow_x_/flow_y_ (or u/ v/) JPEGs"
        )
    return xs, ys


def fit_geometry(height: int, width: int, target_h: int, target_w: int) -> tuple[float, int, int, int, int]:
    """(scale, resized h, resized w, top, left): scale so the frame covers the target, then centre-crop."""
    scale = max(target_h / height, target_w / width)
    rh, rw = max(target_h, round(height * scale)), max(target_w, round(width * scale))
    return scale, rh, rw, (rh - target_h) // 2, (rw - target_w) // 2


def fit_frames(frames: np.ndarray, target_h: int, target_w: int) -> np.ndarray:
    """uint8 frames (F, H, W, C) resized (aspect kept) and centre-cropped to (F, target_h, target_w, C)."""
    f, h, w = frames.shape[:3]
    if (h, w) == (target_h, target_w):
        return frames
    _, rh, rw, top, left = fit_geometry(h, w, target_h, target_w)
    interpolation = cv2.INTER_AREA if rh < h else cv2.INTER_LINEAR
    resized = [cv2.resize(frame, (rw, rh), interpolation=interpolation) for frame in frames]
    out = np.stack(resized)[:, top : top + target_h, left : left + target_w]
    return np.ascontiguousarray(out.reshape(f, target_h, target_w, *frames.shape[3:]))


def fit_flow_bytes(flow: np.ndarray, target_h: int, target_w: int) -> np.ndarray:
    """Stored 8-bit flow (N, H, W, 2) resized and centre-cropped like the frames; the vectors scale with
    the image (a flow of 4 px at 128 px is 2 px at 64 px)."""
    _, h, w, _ = flow.shape
    if (h, w) == (target_h, target_w):
        return flow
    _, rh, rw, _, _ = fit_geometry(h, w, target_h, target_w)
    fitted = fit_frames(decode_flow(bytes_to_code(flow)), target_h, target_w)
    return flow_to_bytes(fitted * np.array([rw / w, rh / h], dtype=np.float32))
