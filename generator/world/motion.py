"""Motion primitives: functions of (speed-scaled) time that drive poses. Time is in frames; callers pass
tau = speed * t so that a clip's speed factor scales every displacement."""

from __future__ import annotations

import numpy as np


def oscillation(tau: np.ndarray, amplitude: float, omega: float, phase: float) -> np.ndarray:
    """amplitude * sin(omega * tau + phase)."""
    return amplitude * np.sin(omega * tau + phase)


def circle(tau: np.ndarray, radius: float, omega: float, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """A point circling the origin: (x, y) offsets."""
    angle = omega * tau + phase
    return radius * np.cos(angle), radius * np.sin(angle)


def bounce(tau: np.ndarray, height: float, omega: float, phase: float) -> np.ndarray:
    """Vertical offset of a bouncing body: 0 on the ground, -height at the top (y points down)."""
    return -height * np.abs(np.sin(omega * tau + phase))


def raised(tau: np.ndarray, omega: float, phase: float) -> np.ndarray:
    """A smooth periodic lift in [0, 1] (0 = down), e.g. a drumstick's raise or a barbell's height."""
    return 0.5 - 0.5 * np.cos(omega * tau + phase)


def reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold positions into [low, high] as a ball bouncing off two walls (a triangle wave)."""
    span = high - low
    y = np.mod(x - low, 2.0 * span)
    return low + np.where(y > span, 2.0 * span - y, y)


def blink_closure(t: np.ndarray, period: float, phase: float, half_width: float) -> np.ndarray:
    """Eyelid closure in [0, 1]: 1 at the middle of a blink, one blink every `period` frames, each closing
    and opening over `half_width` frames; `phase` in [0, 1) shifts the blinks."""
    cycle = np.mod(t / period + phase, 1.0)
    distance = np.minimum(cycle, 1.0 - cycle) * period  # frames to the nearest blink centre
    return np.clip(1.0 - distance / half_width, 0.0, 1.0)


def active_time(frames: int, rest_start: float, rest_length: float) -> np.ndarray:
    """Per-frame time (in frames) of a motion that pauses during [rest_start, rest_start + rest_length):
    the clock advances by one per frame except inside the rest window, so the object holds still there."""
    t = np.arange(frames, dtype=np.float64)
    moving = ((t < rest_start) | (t >= rest_start + rest_length)).astype(np.float64)
    return np.concatenate([[0.0], np.cumsum(moving[:-1])])
