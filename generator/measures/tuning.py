"""Direction and speed tuning: a unit's response to uniform drifting flow.

Every unit that sees motion is driven with flow of one direction and speed over the whole
frame (so over its whole receptive field), the appearance held at the data mean (zeros in
network units): 16 directions x 5 speeds. From the response grid follow the preferred speed
(the speed of the largest response), the preferred direction (the angle of the vector sum of
the responses at that speed) and the direction-selectivity index (the length of that vector
sum over the summed responses: 0 for a unit that answers every direction alike, 1 for one
that answers a single direction). Angles are in degrees, counter-clockwise from rightward,
with up on screen at 90 (image rows grow downward, so upward flow has v < 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator.world.flow import FLOW_CLIP, bytes_to_code, flow_to_bytes
from generator.zoo.spec import InputSpec

DIRECTIONS = 16
SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)  # pixels per flow field
_ARROWS = ("\u2192", "\u2197", "\u2191", "\u2196", "\u2190", "\u2199", "\u2193", "\u2198")  # → ↗ ↑ ↖ ← ↙ ↓ ↘
_WORDS = ("rightward", "up-right", "upward", "up-left", "leftward", "down-left", "downward", "down-right")


def directions(count: int = DIRECTIONS) -> np.ndarray:
    """Evenly spaced directions in degrees, starting at 0 (rightward)."""
    return np.arange(count) * (360.0 / count)


def drifting_inputs(inputs: Sequence[InputSpec], angle: float, speed: float) -> list[np.ndarray]:
    """One sample of every network input for uniform flow of ``speed`` px per field towards
    ``angle`` degrees: flow stacks hold it in every field and frame (through the stored 8-bit
    coding the network was trained on), RGB inputs hold the data mean (zeros)."""
    if not 0 <= speed <= FLOW_CLIP:
        raise ValueError(f"speed must be within 0..{FLOW_CLIP} px per field, got {speed}")
    u = speed * np.cos(np.radians(angle))
    v = -speed * np.sin(np.radians(angle))  # rows grow downward: upward flow has v < 0
    made = []
    for spec in inputs:
        shape = (spec.channels, spec.frames, spec.height, spec.width)
        if spec.kind == "flow":
            field = np.empty(shape, np.float32)
            field[0::2] = bytes_to_code(flow_to_bytes(np.float32(u)))
            field[1::2] = bytes_to_code(flow_to_bytes(np.float32(v)))
            made.append(field)
        else:
            made.append(np.zeros(shape, np.float32))
    return made


def summarise(responses: np.ndarray, angles: np.ndarray, speeds: Sequence[float]) -> dict[str, np.ndarray]:
    """Per unit, from responses (units, directions, speeds): preferred speed and direction
    (degrees in [0, 360)) and the direction-selectivity index in [0, 1]; NaN for a unit that
    never responds (or responds negatively everywhere)."""
    r = np.asarray(responses, dtype=np.float64)
    units = r.shape[0]
    best_speed = np.argmax(r.max(axis=1), axis=1)  # (units,)
    at_speed = np.clip(r[np.arange(units), :, best_speed], 0.0, None)  # rectified, (units, directions)
    # Over evenly spaced directions a constant response sums to the zero vector, so only the
    # part of the response that varies with direction moves the vector sum.
    phase = np.exp(1j * np.radians(np.asarray(angles, dtype=np.float64)))
    vector = at_speed @ phase
    total = at_speed.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dsi = np.where(total > 0, np.abs(vector) / total, np.nan)
    preferred = np.where(total > 0, np.degrees(np.angle(vector)) % 360.0, np.nan)
    return {
        "preferred_direction": preferred,
        "preferred_speed": np.where(total > 0, np.asarray(speeds, dtype=np.float64)[best_speed], np.nan),
        "direction_selectivity": dsi,
    }


def axis_preference(responses: np.ndarray, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, from responses (units, directions) at one speed: the preferred axis (degrees
    in [0, 180): 0 horizontal, 90 vertical) and the axis-selectivity index in [0, 1], from the
    second harmonic (a unit that answers left and right alike but not up or down has a
    horizontal axis and no direction preference). Responses are measured above their weakest."""
    r = np.asarray(responses, dtype=np.float64)
    r = r - r.min(axis=1, keepdims=True)
    vector = r @ np.exp(2j * np.radians(np.asarray(angles, dtype=np.float64)))
    total = r.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (
            np.where(total > 0, (np.degrees(np.angle(vector)) / 2) % 180.0, np.nan),
            np.where(total > 0, np.abs(vector) / total, np.nan),
        )


def arrow(angle: float | None) -> str:
    """The arrow of the nearest of eight directions (→ ↗ ↑ ...), or '' without a direction."""
    if angle is None or not np.isfinite(angle):
        return ""
    return _ARROWS[int(np.round(angle / 45.0)) % 8]


def direction_word(angle: float | None) -> str:
    """'upward', 'leftward', 'down-right', ... for the nearest of eight directions."""
    if angle is None or not np.isfinite(angle):
        return ""
    return _WORDS[int(np.round(angle / 45.0)) % 8]


def axis(angle: float | None) -> str:
    """'horizontal' or 'vertical' (whichever the direction is nearer), for axis comparisons."""
    if angle is None or not np.isfinite(angle):
        return ""
    folded = angle % 180.0
    return "vertical" if 45.0 <= folded < 135.0 else "horizontal"


def speed_word(speed: float | None, speeds: Sequence[float] = SPEEDS) -> str:
    """'slow', 'medium' or 'fast': which third of the tested speeds ``speed`` falls in."""
    if speed is None or not np.isfinite(speed):
        return ""
    rank = int(np.argmin(np.abs(np.log(np.asarray(speeds)) - np.log(speed))))
    third = len(speeds) / 3
    return "slow" if rank < third else ("medium" if rank < 2 * third else "fast")
