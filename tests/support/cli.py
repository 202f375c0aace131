"""Command lines for the ``atlas`` CLI in tests: settings as ``--set key=value`` words."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

# The smallest network, with random weights: no checkpoint, no training, no download.
RANDOM_SMALL_FUSION: Mapping[str, str] = MappingProxyType(
    {"model.source": "small_fusion", "model.weights": "random"}
)


def set_options(sets: Mapping[str, object]) -> list[str]:
    """``--set key=value`` for each setting, in the mapping's order."""
    return [item for key, value in sets.items() for item in ("--set", f"{key}={value}")]


def one_class_unit(
    cache: Path, output: Path, extra: Mapping[str, object] = MappingProxyType({})
) -> list[str]:
    """Options of the smallest build: class unit 0 of small_fusion with random weights, 2 steps at
    chi 1 and 5, plus the ``extra`` settings; clips cached in ``cache``, the atlas in ``output``."""
    sets = {
        **RANDOM_SMALL_FUSION,
        "visualize.steps": 2,
        "visualize.chi": "[1.0, 5.0]",
        **extra,
        "data.cache_dir": cache,
    }
    return [*set_options(sets), "--layers", "class", "--units", "0", "--output", str(output)]
