"""WorldSpec: the validated, hashable description of how clips are rendered (size, frames, speeds, seed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from generator.errors import ConfigError

MIN_SPEED_SPAN = 4.0
"""The speed factor must vary at least this much (max / min) so that speed invariance is worth learning."""


def _require_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"World setting '{name}' must be an integer, got {value!r}.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"World setting '{name}' must be {bound}, got {value}.")


@dataclass(frozen=True)
class WorldSpec:
    """How clips are rendered. frames_per_clip covers T snippets, `snippet_gap` frames apart, of L flow fields."""

    size: int = 64
    flow_fields: int = 4
    snippets: int = 3
    snippet_gap: int = 4
    speed_range: tuple[float, float] = (0.5, 2.5)
    flow_noise: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        _require_int("size", self.size, 32, 512)
        _require_int("flow_fields", self.flow_fields, 1, 64)
        _require_int("snippets", self.snippets, 1, 64)
        _require_int("snippet_gap", self.snippet_gap, 1, 256)
        _require_int("seed", self.seed, 0)
        speeds = tuple(self.speed_range)
        if len(speeds) != 2 or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) for s in speeds
        ):
            raise ConfigError(
                f"World setting 'speed_range' must be two numbers (min, max), got {self.speed_range!r}."
            )
        low, high = float(speeds[0]), float(speeds[1])
        if not 0.0 < low < high:
            raise ConfigError(
                f"World setting 'speed_range' must satisfy 0 < min < max, got {self.speed_range!r}."
            )
        if high / low < MIN_SPEED_SPAN - 1e-9:
            raise ConfigError(
                f"World setting 'speed_range' must span at least {MIN_SPEED_SPAN:g}x (max / min), got "
                f"{self.speed_range!r} ({high / low:.2f}x); e.g. (0.5, 2.5)."
            )
        object.__setattr__(self, "speed_range", (low, high))  # normalize lists / ints for hashing
        noise = self.flow_noise
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 5.0:
            raise ConfigError(
                f"World setting 'flow_noise' must be a number of pixels in [0, 5], got {noise!r}."
            )
        object.__setattr__(self, "flow_noise", float(noise))

    @property
    def frames_per_clip(self) -> int:
        """Frames rendered per clip: the last snippet starts at (T-1)*gap and needs L+1 frames."""
        return (self.snippets - 1) * self.snippet_gap + self.flow_fields + 1

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (used in cache keys)."""
        d = asdict(self)
        d["speed_range"] = list(self.speed_range)
        return d
