"""Colour palettes and colour jitter for the scene's objects."""

from __future__ import annotations

import numpy as np

from generator.world.parts import Color

SKIN: tuple[Color, ...] = ((241, 194, 167), (224, 172, 135), (198, 134, 96), (160, 104, 70), (110, 72, 50))
HAIR: tuple[Color, ...] = ((30, 24, 20), (70, 45, 25), (120, 80, 40), (190, 160, 100), (90, 90, 90))
CLOTHES: tuple[Color, ...] = (
    (200, 40, 40),
    (40, 90, 200),
    (40, 150, 70),
    (230, 200, 40),
    (120, 60, 160),
    (240, 240, 240),
    (40, 40, 50),
    (230, 120, 30),
)
WOOD: tuple[Color, ...] = ((140, 80, 35), (115, 60, 25), (165, 100, 45))
BALLS: tuple[Color, ...] = (
    (220, 30, 30),
    (240, 200, 20),
    (30, 60, 200),
    (120, 30, 150),
    (240, 120, 20),
    (20, 20, 20),
    (30, 140, 60),
    (150, 20, 30),
)
LIGHT: tuple[Color, ...] = ((235, 235, 240), (200, 225, 245), (245, 235, 200), (215, 245, 225))


def jitter(rng: np.random.Generator, color: Color, amount: float = 16.0) -> Color:
    """The colour with each channel shifted by up to +-amount (clipped to 0..255)."""
    shift = rng.uniform(-amount, amount, size=3)
    return tuple(int(np.clip(np.rint(c + d), 0, 255)) for c, d in zip(color, shift))  # type: ignore[return-value]


def pick(rng: np.random.Generator, palette: tuple[Color, ...], amount: float = 16.0) -> Color:
    """A jittered colour drawn from a palette."""
    return jitter(rng, palette[int(rng.integers(len(palette)))], amount)


def shade(color: Color, factor: float) -> Color:
    """The colour scaled by factor (darker below 1)."""
    return tuple(int(np.clip(np.rint(c * factor), 0, 255)) for c in color)  # type: ignore[return-value]
