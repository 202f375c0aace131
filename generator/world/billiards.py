"""Billiards: several small coloured balls resting on green felt; one rolls fast in a straight line and
bounces off the cushions (appearance and motion cues together)."""

from __future__ import annotations

import numpy as np

from generator.world import palette
from generator.world.background import billiards_table
from generator.world.motion import reflect
from generator.world.parts import DESIGN_SIZE, Sprite, ellipse, poses
from generator.world.stage import Stage

CUSHION = 5.0  # cushion width (design pixels)
BALL_RADIUS = (2.3, 3.0)
RESTING_BALLS = (3, 7)  # how many balls rest (inclusive range)
ROLL_SPEED = 2.4  # pixels per frame at speed 1
WHITE: tuple[int, int, int] = (245, 245, 240)


def table(rng: np.random.Generator, size: int) -> np.ndarray:
    """The billiards background at render size."""
    return billiards_table(rng, size, CUSHION * size / DESIGN_SIZE)


def billiards(stage: Stage) -> list[Sprite]:
    rng = stage.rng
    radius = stage.uniform(*BALL_RADIUS)
    low, high = CUSHION + radius, DESIGN_SIZE - 1 - CUSHION - radius
    count = int(rng.integers(RESTING_BALLS[0], RESTING_BALLS[1] + 1))
    sprites: list[Sprite] = []
    for _ in range(count):
        x, y = stage.uniform(low, high), stage.uniform(low, high)
        color = palette.pick(rng, palette.BALLS + (WHITE,), 12.0)
        sprites.append(Sprite("ball", ellipse(radius), color, poses(x, y, 0.0, stage.frames)))
    x0, y0 = stage.uniform(low, high), stage.uniform(low, high)
    heading = stage.phase()
    color = palette.pick(rng, palette.BALLS + (WHITE, WHITE), 12.0)
    x = reflect(x0 + ROLL_SPEED * np.cos(heading) * stage.tau, low, high)
    y = reflect(y0 + ROLL_SPEED * np.sin(heading) * stage.tau, low, high)
    sprites.append(Sprite("rolling_ball", ellipse(radius), color, poses(x, y, 0.0, stage.frames)))
    return sprites
