"""Displayable frames from network-unit inputs: appearance, decoded flow, coded motion, panels.

All frame stacks are uint8 (N, H, W, 3). Network units follow the shared conventions:
appearance = RGB 0..255 minus a per-channel mean (default the world's RGB_MEAN), (3, T, H, W);
motion = the paper's flow coding (:mod:`generator.world.flow`), (2L, T, H, W) with channels
(u1, v1, ..., uL, vL).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator.media.flow_codes import colorwheel_legend, flow_to_colorwheel, flow_to_xymag, legend_disc
from generator.media.kinds import FlowCode
from generator.world.flow import decode_flow
from generator.world.inputs import RGB_MEAN


def appearance_frames(x: np.ndarray, mean: Sequence[float] | None = RGB_MEAN) -> np.ndarray:
    """RGB network units (3, T, H, W) -> uint8 (T, H, W, 3): mean added back, rounded, clipped to 0..255."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[0] != 3:
        raise ValueError(f"appearance input must have shape (3, T, H, W), got {x.shape}")
    offset = np.zeros(3) if mean is None else np.asarray(mean, dtype=np.float64)
    if offset.shape != (3,):
        raise ValueError(f"mean must have 3 values (R, G, B), got {tuple(np.atleast_1d(offset))}")
    rgb = x + offset[:, None, None, None]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8).transpose(1, 2, 3, 0)


def flow_fields(x: np.ndarray) -> np.ndarray:
    """Motion network units (2L, T, H, W) -> pixel flow float32 (T, L, H, W, 2), last axis (u, v)."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] % 2 or x.shape[0] == 0:
        raise ValueError(f"motion input must have shape (2L, T, H, W) with L >= 1, got {x.shape}")
    two_l, t, h, w = x.shape
    # Decoded in float64 and not clipped: optimised inputs beyond the coding range show as such.
    pairs = decode_flow(np.asarray(x, dtype=np.float64)).reshape(two_l // 2, 2, t, h, w)  # (L, uv, T, H, W)
    return pairs.transpose(2, 0, 3, 4, 1).astype(np.float32)


def flow_frames(
    flow: np.ndarray, code: FlowCode = "colorwheel", max_magnitude: float | None = None
) -> np.ndarray:
    """Pixel flow (..., H, W, 2) -> uint8 (N, H, W, 3), one frame per field, one normalization for all."""
    flow = np.asarray(flow)
    if flow.ndim < 3 or flow.shape[-1] != 2:
        raise ValueError(f"flow must have shape (..., H, W, 2), got {flow.shape}")
    fields = flow.reshape(-1, *flow.shape[-3:])
    encoders = {"colorwheel": flow_to_colorwheel, "xymag": flow_to_xymag}
    if code not in encoders:
        raise ValueError(f"unknown flow code {code!r}; valid codes: {', '.join(encoders)}")
    return encoders[code](fields[..., 0], fields[..., 1], max_magnitude)


def motion_frames(
    x: np.ndarray, code: FlowCode = "colorwheel", max_magnitude: float | None = None
) -> np.ndarray:
    """Motion network units (2L, T, H, W) -> uint8 (T*L, H, W, 3), snippet-major, one frame per flow field."""
    return flow_frames(flow_fields(x), code, max_magnitude)


def display_factor(height: int, width: int, min_side: int = 128) -> int:
    """Smallest power-of-two upscaling factor giving a short side >= ``min_side`` (1 if already large).

    Powers of two keep nearest-neighbour pixels crisp and, for factors >= 2, make both
    sides even and align source pixels with the 2x2 chroma blocks of yuv420p video, so
    a factor of 2 already keeps every source pixel's colour; larger factors only add
    encoding time (bench/media_cpu.py measures the cost per factor: bench/results/media_cpu.txt).
    """
    factor = 1
    while min(height, width) * factor < min_side:
        factor *= 2
    return factor


def upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (..., H, W, C) by an integer ``factor``."""
    if int(factor) != factor or factor < 1:
        raise ValueError(f"upscale factor must be a positive integer, got {factor!r}")
    frames = np.asarray(frames)
    if factor == 1:
        return frames.copy()
    return frames.repeat(factor, axis=-3).repeat(factor, axis=-2)


def _held(frames: np.ndarray, count: int) -> np.ndarray:
    """Stretch (n, H, W, 3) to ``count`` frames by holding each frame for its share of time (a new array)."""
    n = frames.shape[0]
    return frames[(np.arange(count) * n) // count]


def composite(
    appearance: np.ndarray | None,
    colorwheel: np.ndarray | None,
    xymag: np.ndarray | None,
    legend: np.ndarray | bool | None = True,
    gap: int = 4,
    gap_color: tuple[int, int, int] = (32, 32, 32),
) -> np.ndarray:
    """Panels side by side: appearance | colour wheel | x/y/magnitude -> uint8 (N, H, W', 3).

    Missing panels (None) are left out. N is the largest frame count; shorter panels are held
    (e.g. one appearance frame per snippet shown for all its L flow fields). ``legend``: a
    square wheel image pasted in the bottom-right corner of the colour-wheel panel (its disc
    only); True draws one a quarter of the panel height; None/False draws none.
    """
    given = [None if p is None else np.asarray(p) for p in (appearance, colorwheel, xymag)]
    present = [p for p in given if p is not None]
    if not present:
        raise ValueError("composite needs at least one panel")
    for p in present:
        if p.ndim != 4 or p.shape[-1] != 3 or p.dtype != np.uint8:
            raise ValueError(f"panels must be uint8 (N, H, W, 3), got {p.dtype} {p.shape}")
    height = present[0].shape[1]
    if any(p.shape[1] != height for p in present):
        raise ValueError(f"panels must share one height, got {[p.shape[1] for p in present]}")
    count = max(p.shape[0] for p in present)

    panels = [None if p is None else _held(p, count) for p in given]
    if panels[1] is not None and legend is not None and legend is not False:
        key = (
            colorwheel_legend(max(16, height // 4)) if legend is True else np.asarray(legend, dtype=np.uint8)
        )
        _paste_legend(panels[1], key)
    panels = [p for p in panels if p is not None]

    pieces: list[np.ndarray] = []
    spacer = np.empty((count, height, gap, 3), dtype=np.uint8)
    spacer[...] = np.asarray(gap_color, dtype=np.uint8)
    for i, p in enumerate(panels):
        if i and gap:
            pieces.append(spacer)
        pieces.append(p)
    return np.concatenate(pieces, axis=2)


def _paste_legend(panel: np.ndarray, key: np.ndarray, margin: int | None = None) -> None:
    """Draw the disc (and ring) of the square legend ``key`` into the bottom-right corner of ``panel`` in place."""
    size = key.shape[0]
    h, w = panel.shape[1:3]
    if key.ndim != 3 or key.shape[:2] != (size, size) or size > min(h, w):
        raise ValueError(f"legend must be a square (S, S, 3) image no larger than the panel, got {key.shape}")
    margin = max(1, size // 16) if margin is None else margin
    margin = min(margin, h - size, w - size)
    u, v, inside = legend_disc(size)
    ring = np.hypot(u, v) <= 1.0 + 1.5 / (size / 2.0 - 1.0)
    mask = inside | ring
    y0, x0 = h - size - margin, w - size - margin
    region = panel[:, y0 : y0 + size, x0 : x0 + size]
    region[:, mask] = key[mask]
