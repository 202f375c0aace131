"""Stage: everything a class builder needs to draw one clip (random draws, time, speed, probe)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.world.parts import DESIGN_SIZE


@dataclass(frozen=True, eq=False)
class Stage:
    """One clip being built: `rng` draws the scene's nuisances, `frames` frames at render `size`,
    speed factor `speed`, and an optional probe name.

    Builders must make the same sequence of random draws whatever the probe, so that a probe clip is
    the same clip as its plain twin except for what the probe changes.
    """

    rng: np.random.Generator
    size: int
    frames: int
    speed: float
    probe: str | None = None

    @property
    def t(self) -> np.ndarray:
        """Frame times 0..F-1."""
        return np.arange(self.frames, dtype=np.float64)

    @property
    def tau(self) -> np.ndarray:
        """Speed-scaled time: motions written in tau move `speed` times faster."""
        return self.speed * self.t

    @property
    def centre(self) -> float:
        return (DESIGN_SIZE - 1) / 2.0

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def sign(self) -> int:
        return 1 if self.rng.random() < 0.5 else -1

    def phase(self) -> float:
        """A random motion phase in [0, 2 pi)."""
        return float(self.rng.uniform(0.0, 2.0 * np.pi))

    def chance(self, probability: float) -> bool:
        """True with the given probability (always draws one number)."""
        return bool(self.rng.random() < probability)
