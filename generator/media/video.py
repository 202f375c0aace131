"""Media files: H.264 MP4 through imageio-ffmpeg's bundled ffmpeg, PNG with zlib; all written atomically.

Every writer first writes a temporary file beside the target and moves it into place with
``os.replace``, so a reader (or a resumed build) never finds a truncated file at the final
path, and a failed or killed write leaves no temporary file behind (except after SIGKILL,
when a hidden ``.<name>.*.part`` file may remain; it is never mistaken for a result).

MP4s are browser-safe: libx264, yuv420p, BT.709 matrix tagged in the stream, ``+faststart``
(the index 'moov' atom before the media data, so playback starts before the download
ends), even frame sizes (odd ones are padded by repeating the last row/column).
"""

from __future__ import annotations

import math
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from generator.store.atomic import atomic_path as _atomic_target
from generator.store.verify import MP4_FRAMES_TAG


class EncodeError(RuntimeError):
    """ffmpeg could not encode a video (its error output is in the message)."""


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(
            f"frames must be a non-empty uint8 array (N, H, W, 3), got {frames.dtype} {frames.shape}"
        )
    return frames


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad odd heights/widths by one repeated row/column (H.264 in yuv420p needs even sizes)."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def _looped(frames: np.ndarray, fps: float, min_seconds: float) -> np.ndarray:
    """Repeat the whole clip until it lasts >= ``min_seconds`` (looping keeps the motion's speed)."""
    repeats = max(1, math.ceil(min_seconds * fps / frames.shape[0] - 1e-9))
    return np.concatenate([frames] * repeats, axis=0) if repeats > 1 else frames


def mp4_frame_count(frames: int, fps: float = 8, min_seconds: float = 1.0) -> int:
    """How many frames :func:`write_mp4` writes for a clip of ``frames`` frames."""
    return frames * max(1, math.ceil(min_seconds * fps / frames - 1e-9))


def write_mp4(
    frames: np.ndarray,
    path: Path | str,
    fps: float = 8,
    *,
    crf: int = 18,
    preset: str = "veryfast",
    min_seconds: float = 1.0,
    timeout: float = 300.0,
) -> Path:
    """Encode uint8 frames (N, H, W, 3) as an H.264/yuv420p faststart MP4 at ``path`` (atomically).

    Clips shorter than ``min_seconds`` are looped whole until they are long enough, so a single
    frame gives a valid still video. Raw frames go to one ffmpeg process through a pipe.
    Raises ValueError for bad frames and EncodeError when ffmpeg fails; neither leaves a file.
    """
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    frames = _even(_looped(_check_frames(frames), fps, min_seconds))
    n, h, w, _ = frames.shape
    target = Path(path)
    with _atomic_target(target) as tmp:
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{w}x{h}",
            "-framerate",
            f"{fps:g}",
            "-i",
            "pipe:0",
            # Convert with the BT.709 matrix and tag it, so browsers do not guess the colour space.
            "-an",
            "-vf",
            "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
            "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-crf",
            str(crf),
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            # The frame count written, read back by generator.store.verify: a video cut short later
            # (copied or re-encoded, which keeps this tag) is then seen as damaged.
            "-metadata",
            f"comment={MP4_FRAMES_TAG}{n}",
            "-f",
            "mp4",
            str(tmp),
        ]
        # The frames go down the pipe in one write and ffmpeg's messages to a file: unlike
        # Popen.communicate, which feeds a pipe 512 bytes per poll, this costs a few system
        # calls per video, and a chatty ffmpeg cannot block on a full stderr pipe.
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
            try:
                with proc.stdin:
                    proc.stdin.write(np.ascontiguousarray(frames).data)
                proc.wait(timeout=timeout)
            except BrokenPipeError:
                proc.wait(timeout=timeout)  # ffmpeg stopped reading: its exit code tells why
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            log.seek(0)
            err = log.read()
        if proc.returncode != 0:
            message = err.decode("utf-8", "replace").strip()[-2000:]
            raise EncodeError(
                f"ffmpeg failed (exit code {proc.returncode}) writing {target} ({n} frames {w}x{h}): {message}"
            )
    return target


def read_mp4(path: Path | str) -> tuple[np.ndarray, float]:
    """Decode a video into uint8 frames (N, H, W, 3) and its frame rate."""
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        w, h = meta["size"]
        frames = [np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3) for buf in reader]
    finally:
        reader.close()
    return np.stack(frames) if frames else np.zeros((0, h, w, 3), np.uint8), float(meta["fps"])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(image: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of a uint8 RGB image (H, W, 3): 8-bit truecolour, every row with the 'Up' filter
    (cheap with numpy, and upscaled images then compress to almost nothing)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise ValueError(f"image must be a non-empty uint8 array (H, W, 3), got {image.dtype} {image.shape}")
    h, w, _ = image.shape
    rows = image.reshape(h, w * 3)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as the PNG filter requires
    raw = np.concatenate([np.full((h, 1), 2, dtype=np.uint8), up], axis=1).tobytes()
    header = struct.pack(
        ">IIBBBBB", w, h, 8, 2, 0, 0, 0
    )  # 8 bit, truecolour, deflate, adaptive filters, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, compress_level))
        + _png_chunk(b"IEND", b"")
    )


def write_png(image: np.ndarray, path: Path | str, compress_level: int = 6) -> Path:
    """Write a uint8 RGB image (H, W, 3) as a PNG file (atomically)."""
    data = encode_png(image, compress_level)
    target = Path(path)
    with _atomic_target(target) as tmp:
        tmp.write_bytes(data)
    return target


def poster_index(count: int) -> int:
    """The representative frame of a clip: the middle one."""
    return count // 2


def write_poster(frames: np.ndarray, path: Path | str) -> Path:
    """Write the middle frame of uint8 frames (N, H, W, 3) as a PNG (atomically)."""
    frames = _check_frames(frames)
    return write_png(frames[poster_index(frames.shape[0])], path)
