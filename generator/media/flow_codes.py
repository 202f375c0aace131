"""Flow codes: pixel optical flow (u right, v down) turned into displayable RGB images.

Two encodings (method.md, "Rendering"):

* colour wheel - the Middlebury code of Baker et al. (IJCV 2011): hue = direction,
  saturation = magnitude, white at zero flow. With image axes (x right, y down):
  rightward flow is red, downward yellow-orange, leftward cyan-blue and upward
  blue-violet; in between, the 55-colour wheel interpolates through
  red-yellow-green-cyan-blue-magenta.
* x/y/magnitude - R = u, G = v (both mid-grey 128 at zero), B = |flow| (0 at zero flow,
  255 at the normalizing magnitude).

Both normalize by ``max_magnitude``: pass one value shared by every frame of a video (or by
several videos) so that they are comparable; ``None`` uses the largest magnitude in the
given arrays.
"""

from __future__ import annotations

import numpy as np

# Segment lengths of the Middlebury wheel: red-yellow, yellow-green, green-cyan,
# cyan-blue, blue-magenta, magenta-red (chosen by Baker et al. for perceptual balance).
_SEGMENTS = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))

# Flow magnitudes below this are treated as no flow when normalizing (avoids 0/0).
_EPS = 1e-9


def _wheel() -> np.ndarray:
    """The Middlebury colour wheel, (55, 3) float in 0..255, red at index 0."""
    parts = []
    for name, n in _SEGMENTS:
        up = np.floor(255.0 * np.arange(n) / n)  # rising channel of this segment
        down, full, zero = 255.0 - up, np.full(n, 255.0), np.zeros(n)
        rgb = {
            "RY": (full, up, zero),
            "YG": (down, full, zero),
            "GC": (zero, full, up),
            "CB": (zero, down, full),
            "BM": (up, zero, full),
            "MR": (full, zero, down),
        }[name]
        parts.append(np.stack(rgb, axis=1))
    return np.concatenate(parts, axis=0)


def _as_flow(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape, got {u.shape} and {v.shape}")
    return u, v


def max_flow_magnitude(u: np.ndarray, v: np.ndarray) -> float:
    """Largest |(u, v)| over all elements (0.0 for empty or all-zero flow)."""
    u, v = _as_flow(u, v)
    return float(np.hypot(u, v).max()) if u.size else 0.0


def _scale(u: np.ndarray, v: np.ndarray, max_magnitude: float | None) -> float:
    scale = max_flow_magnitude(u, v) if max_magnitude is None else float(max_magnitude)
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"max_magnitude must be a finite number >= 0, got {max_magnitude!r}")
    return max(scale, _EPS)


def flow_to_colorwheel(u: np.ndarray, v: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Middlebury colour-wheel code of flow ``(u, v)`` of shape (..., H, W) -> uint8 (..., H, W, 3).

    Magnitudes are divided by ``max_magnitude``; as in the reference code, vectors longer
    than it keep full saturation and are darkened to 75 % to mark them as out of range.
    """
    u, v = _as_flow(u, v)
    scale = _scale(u, v, max_magnitude)
    u, v = u / scale, v / scale
    wheel = _wheel()
    ncols = wheel.shape[0]
    rad = np.hypot(u, v)
    # The reference angle: atan2(-v, -u) puts rightward flow (angle pi) at the red end.
    angle = np.arctan2(-v, -u) / np.pi
    fk = (angle + 1.0) / 2.0 * (ncols - 1)
    k0 = np.floor(fk).astype(np.int64)
    k1 = (k0 + 1) % ncols
    frac = (fk - k0)[..., None]
    col = ((1.0 - frac) * wheel[k0] + frac * wheel[k1]) / 255.0
    inside = (rad <= 1.0)[..., None]
    col = np.where(inside, 1.0 - rad[..., None] * (1.0 - col), col * 0.75)
    return np.floor(255.0 * np.clip(col, 0.0, 1.0)).astype(np.uint8)


def flow_to_xymag(u: np.ndarray, v: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """ "x, y, magnitude" code of flow (..., H, W) -> uint8 (..., H, W, 3).

    R = 128 + 127 u / m, G = 128 + 127 v / m, B = 255 |flow| / m with m = ``max_magnitude``
    (values beyond it saturate). Zero flow is (128, 128, 0): mid-grey in R and G, no blue.
    The same m scales all three channels, so R and G reach 1 or 255 only for purely
    horizontal or vertical flow at the maximum magnitude.
    """
    u, v = _as_flow(u, v)
    scale = _scale(u, v, max_magnitude)
    r = 128.0 + 127.0 * u / scale
    g = 128.0 + 127.0 * v / scale
    b = 255.0 * np.hypot(u, v) / scale
    out = np.stack([r, g, b], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def legend_disc(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized flow ``(u, v)`` pointing from the centre of a ``size`` square to each pixel,
    and the mask of the unit disc (radius ``size / 2 - 1`` pixels, so a border ring fits)."""
    if size < 3:
        raise ValueError(f"legend size must be >= 3 pixels, got {size}")
    centre = (size - 1) / 2.0
    radius = size / 2.0 - 1.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    u = (xs - centre) / radius
    v = (ys - centre) / radius
    return u, v, np.hypot(u, v) <= 1.0


def colorwheel_legend(
    size: int,
    background: tuple[int, int, int] = (96, 96, 96),
    ring: tuple[int, int, int] = (40, 40, 40),
) -> np.ndarray:
    """The colour-wheel key, uint8 (size, size, 3): a disc whose pixels show the code of the
    flow vector from the centre to them (white centre, saturated rim), a dark ring around it
    and ``background`` outside."""
    u, v, inside = legend_disc(size)
    radius = size / 2.0 - 1.0
    rad = np.hypot(u, v)
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[...] = np.asarray(background, dtype=np.uint8)
    img[(rad > 1.0) & (rad <= 1.0 + 1.5 / radius)] = np.asarray(ring, dtype=np.uint8)
    code = flow_to_colorwheel(np.where(inside, u, 0.0), np.where(inside, v, 0.0), max_magnitude=1.0)
    img[inside] = code[inside]
    return img
