"""Static backgrounds: random smooth textures (a nuisance in every class) and the billiards table.

Built from uniform random numbers with additions and multiplications only, so they are bit-identical
on every machine.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_CONTRAST = 70.0
"""Brightness swing of the large patches of a random background."""
BACKGROUND_GRAIN = 8.0
"""Per-pixel noise of a background (static: it never moves, so its flow is zero)."""


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size) values in [0, 1]: a (cells+1)^2 random grid interpolated bilinearly."""
    grid = rng.random((cells + 1, cells + 1))
    pos = (np.arange(size, dtype=np.float64) + 0.5) * (cells / size)
    i0 = np.minimum(np.floor(pos).astype(np.int64), cells - 1)
    w = pos - i0
    top = grid[i0][:, i0] * (1.0 - w)[None, :] + grid[i0][:, i0 + 1] * w[None, :]
    bottom = grid[i0 + 1][:, i0] * (1.0 - w)[None, :] + grid[i0 + 1][:, i0 + 1] * w[None, :]
    return top * (1.0 - w)[:, None] + bottom * w[:, None]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random two-colour patchy texture with grain: (size, size, 3) uint8."""
    first, second = rng.uniform(30.0, 225.0, size=3), rng.uniform(30.0, 225.0, size=3)
    cells = int(rng.integers(2, 6))
    mix = smooth_noise(rng, size, cells)[..., None]
    detail = (smooth_noise(rng, size, 2 * cells + 4) - 0.5)[..., None]
    grain = (rng.random((size, size, 1)) - 0.5) * (2.0 * BACKGROUND_GRAIN)
    image = first * (1.0 - mix) + second * mix + detail * (BACKGROUND_CONTRAST * 0.5) + grain
    return _to_uint8(image)


def billiards_table(rng: np.random.Generator, size: int, cushion: float) -> np.ndarray:
    """Green felt with a faint texture inside brown cushions `cushion` pixels wide: (size, size, 3) uint8."""
    felt = np.array([30.0, 120.0, 55.0]) + rng.uniform(-15.0, 15.0, size=3)
    wood = np.array([95.0, 55.0, 25.0]) + rng.uniform(-15.0, 15.0, size=3)
    shade = (smooth_noise(rng, size, 3) - 0.5)[..., None] * 20.0
    grain = (rng.random((size, size, 1)) - 0.5) * 6.0
    image = felt + shade + grain
    edge = int(round(cushion))
    ring = np.ones((size, size), dtype=bool)
    ring[edge : size - edge, edge : size - edge] = False
    image[ring] = wood + grain[ring]
    return _to_uint8(image)
