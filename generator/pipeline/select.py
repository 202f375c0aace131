"""Which layers and units a run covers, from the configuration and command-line filters."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from generator.config import AtlasConfig
from generator.errors import ConfigError
from generator.zoo.spec import ModelDescription


@dataclass(frozen=True)
class Selection:
    """Units to visualize, per layer, in registry order."""

    layers: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def unit_count(self) -> int:
        return sum(len(units) for _, units in self.layers)


def parse_units(text: str) -> tuple[int, ...]:
    """``"0-3,7"`` -> (0, 1, 2, 3, 7)."""
    units: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, sep, high = part.partition("-")
        try:
            if sep:
                units.extend(range(int(low), int(high) + 1))
            else:
                units.append(int(part))
        except ValueError:
            raise ConfigError(
                f"Cannot read the unit list {text!r}: write indices and ranges like 0-9,17."
            ) from None
    return tuple(dict.fromkeys(units))


def select_units(
    config: AtlasConfig, description: ModelDescription, layers: str | None = None, units: str | None = None
) -> Selection:
    """The configured layers (or the comma-separated ``layers`` filter) and their units."""
    if layers:
        names = tuple(n.strip() for n in layers.split(",") if n.strip())
    elif config.layers == "all":
        names = description.layer_names
    else:
        names = tuple(config.layers)
    chosen = parse_units(units) if units else None
    result = []
    for name in names:
        info = description.layer(name)  # a ModelError names unknown layers
        indices = tuple(range(info.units))
        if chosen is not None:
            bad = [u for u in chosen if u >= info.units]
            if bad:
                raise ConfigError(
                    f"Unit(s) {', '.join(map(str, bad))} do not exist in layer {name!r}, "
                    f"which has units 0..{info.units - 1}."
                )
            indices = chosen
        if config.max_units_per_layer is not None:
            indices = indices[: config.max_units_per_layer]
        result.append((name, indices))
    return Selection(tuple(result))


def resolve_device(name: str) -> torch.device:
    """'auto' -> the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"visualize.device is {name!r} but this machine has no usable CUDA device; use 'auto' or 'cpu'."
        )
    return device
