"""A unit's response map drawn over a clip's frames: a semi-transparent heat map.

The colour scale runs from transparent (the unit's lowest response in the range given)
through dark red and orange to pale yellow (its highest), and its opacity grows with the
response, so the clip stays visible where the unit is silent. The range is the caller's
(the unit's own response range), so overlays of one unit are comparable across its clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.media.video import write_mp4, write_poster

# Anchor colours of the scale (low to high), interpolated linearly: black-red-orange-yellow-white.
_ANCHORS = np.array(
    [[40, 0, 60], [180, 20, 40], [240, 110, 20], [250, 210, 60], [255, 255, 220]], dtype=np.float32
)
OPACITY = 0.65  # at the top of the range


def heat_colours(values: np.ndarray) -> np.ndarray:
    """RGB colours (..., 3) in [0, 255] of values in [0, 1] (clipped)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0) * (len(_ANCHORS) - 1)
    low = np.floor(v).astype(np.int64).clip(0, len(_ANCHORS) - 2)
    t = (v - low)[..., None]
    return _ANCHORS[low] * (1 - t) + _ANCHORS[low + 1] * t


def normalize(heat: np.ndarray, low: float, high: float) -> np.ndarray:
    """``heat`` scaled to [0, 1] over the range [low, high] (all zero for an empty range)."""
    span = float(high) - float(low)
    if not np.isfinite(span) or span <= 0:
        return np.zeros_like(np.asarray(heat, dtype=np.float32))
    return np.clip((np.asarray(heat, dtype=np.float32) - low) / span, 0.0, 1.0)


def overlay_frames(
    frames: np.ndarray, heat: np.ndarray, low: float, high: float, opacity: float = OPACITY
) -> np.ndarray:
    """uint8 frames (N, H, W, 3) with ``heat`` (N, H, W), scaled over [low, high], drawn over them."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or heat.shape != frames.shape[:3]:
        raise ValueError(
            f"overlay_frames needs frames (N, H, W, 3) and a heat map (N, H, W) of the same size; "
            f"got {frames.shape} and {heat.shape}."
        )
    level = normalize(heat, low, high)
    alpha = (opacity * level)[..., None]
    blended = frames.astype(np.float32) * (1 - alpha) + heat_colours(level) * alpha
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def legend_bar(width: int = 128, height: int = 10) -> np.ndarray:
    """The colour scale as a uint8 image (height, width, 3), low on the left, over mid-grey."""
    level = np.linspace(0.0, 1.0, width, dtype=np.float32)[None].repeat(height, axis=0)
    grey = np.full((height, width, 3), 128, dtype=np.uint8)
    alpha = (OPACITY * level)[..., None]
    return np.clip(np.rint(grey * (1 - alpha) + heat_colours(level) * alpha), 0, 255).astype(np.uint8)


def write_overlay(
    frames: np.ndarray, heat: np.ndarray, low: float, high: float, video: Path | str, poster: Path | str
) -> tuple[Path, Path]:
    """Write the overlay as an MP4 and a poster PNG (its middle frame), atomically."""
    drawn = overlay_frames(frames, heat, low, high)
    return write_mp4(drawn, video), write_poster(drawn, poster)


def legend_gradient(stops: int = 9) -> str:
    """The colour scale of :func:`legend_bar` as a CSS ``linear-gradient`` (low on the left), so a
    page can draw its legend without an image file."""
    colours = legend_bar(stops, 1)[0]
    parts = [
        f"rgb({r}, {g}, {b}) {100 * i / (stops - 1):.1f}%" for i, (r, g, b) in enumerate(colours.tolist())
    ]
    return f"linear-gradient(to right, {', '.join(parts)})"
