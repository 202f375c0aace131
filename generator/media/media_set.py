"""The media of one visualization or real clip: appearance, colour-wheel, x/y/magnitude and
composite MP4s, each with a PNG poster.

Files are named ``<stem>_<kind>.mp4`` and ``<stem>_<kind>.png`` inside ``directory``; the
returned dict maps ``<kind>`` and ``<kind>_poster`` to paths relative to ``root`` (POSIX
style, ready for tables and links). Kinds present depend on the inputs: ``appearance``
needs RGB, ``colorwheel`` and ``xymag`` need flow, ``composite`` is always written when
both are given (appearance held for its snippet's L flow fields, wheel legend in the
colour-wheel panel's corner); with only one kind of input ``composite`` points at the
appearance video or shows the two flow codes side by side. The standalone colour-wheel
video has no legend, so it shows the flow unobstructed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from generator.media.flow_codes import max_flow_magnitude
from generator.media.frames import (
    appearance_frames,
    composite,
    display_factor,
    flow_fields,
    flow_frames,
    upscale,
)
from generator.media.video import write_mp4, write_poster
from generator.world.inputs import RGB_MEAN


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def write_frame_set(
    directory: Path | str,
    stem: str,
    *,
    rgb: np.ndarray | None = None,
    flow: np.ndarray | None = None,
    fps: float = 8,
    factor: int | None = None,
    max_magnitude: float | None = None,
    root: Path | str | None = None,
    crf: int = 18,
    preset: str = "veryfast",
) -> dict[str, str]:
    """Write the media set from display-domain inputs: ``rgb`` uint8 (T, H, W, 3) frames and/or
    pixel ``flow`` (..., H, W, 2) (e.g. (T, L, H, W, 2); fields in time order).

    ``factor``: nearest-neighbour upscaling (default :func:`display_factor`, e.g. 64 -> 128 px).
    ``max_magnitude``: flow normalization shared by all frames (default: this clip's maximum;
    pass one value for several clips to make them comparable).
    """
    if rgb is None and flow is None:
        raise ValueError("write_frame_set needs rgb frames, flow, or both")
    directory = Path(directory)
    root_dir = directory if root is None else Path(root)
    if flow is not None:
        flow = np.asarray(flow, dtype=np.float32)
        if flow.ndim < 3 or flow.shape[-1] != 2:
            raise ValueError(f"flow must have shape (..., H, W, 2), got {flow.shape}")
        fields = flow.reshape(-1, *flow.shape[-3:])
        if max_magnitude is None:
            max_magnitude = max_flow_magnitude(fields[..., 0], fields[..., 1])
    size = (rgb if rgb is not None else fields).shape[1:3]
    scale = display_factor(*size) if factor is None else factor

    clips: dict[str, np.ndarray] = {}
    if rgb is not None:
        clips["appearance"] = upscale(rgb, scale)
    if flow is not None:
        clips["colorwheel"] = upscale(flow_frames(fields, "colorwheel", max_magnitude), scale)
        clips["xymag"] = upscale(flow_frames(fields, "xymag", max_magnitude), scale)
    if flow is not None:
        clips["composite"] = composite(clips.get("appearance"), clips["colorwheel"], clips["xymag"])

    paths: dict[str, str] = {}
    for kind, frames in clips.items():
        video = write_mp4(frames, directory / f"{stem}_{kind}.mp4", fps, crf=crf, preset=preset)
        poster = write_poster(frames, directory / f"{stem}_{kind}.png")
        paths[kind] = _relative(video, root_dir)
        paths[f"{kind}_poster"] = _relative(poster, root_dir)
    if "composite" not in paths:  # appearance only: the appearance video is the whole picture
        paths["composite"], paths["composite_poster"] = paths["appearance"], paths["appearance_poster"]
    return paths


def write_media_set(
    directory: Path | str,
    stem: str,
    *,
    appearance: np.ndarray | None = None,
    motion: np.ndarray | None = None,
    mean: Sequence[float] | None = RGB_MEAN,
    fps: float = 8,
    factor: int | None = None,
    max_magnitude: float | None = None,
    root: Path | str | None = None,
    crf: int = 18,
    preset: str = "veryfast",
) -> dict[str, str]:
    """Write the media set of one visualization from network units: ``appearance`` (3, T, H, W)
    RGB minus ``mean`` and/or ``motion`` (2L, T, H, W) in the paper's flow coding.
    See :func:`write_frame_set` for the other arguments and the returned paths."""
    return write_frame_set(
        directory,
        stem,
        rgb=None if appearance is None else appearance_frames(appearance, mean),
        flow=None if motion is None else flow_fields(motion),
        fps=fps,
        factor=factor,
        max_magnitude=max_magnitude,
        root=root,
        crf=crf,
        preset=preset,
    )
