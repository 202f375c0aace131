"""Joint features across chi (the paper's claim 2): does a unit's optimised appearance change
when chi changes only how its motion may vary?

*(choice; method.md asks for "the relative change of the optimised appearance across chi")*
For one unit and one seed, with a_c the optimised appearance (network units, all frames and
pixels flattened) at chi = c and a_bar their mean over chi, the change is

    sqrt(mean over c of ||a_c - a_bar||^2) / ||a_bar||

i.e. the RMS deviation across chi relative to the size of the appearance itself: 0 when the
appearance is the same at every chi (it cannot see the motion), about 0.1 when it moves by a
tenth of its size. A unit's score is the mean over its seeds; undefined (None) with fewer than
two chi values or an all-zero appearance. Every chi sweep of one (unit, seed) starts from the
same noise and jitter, so single-stream appearance units score exactly 0 unless the
optimisation itself couples the streams.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np


def appearance_change(by_chi: Mapping[float, np.ndarray]) -> float | None:
    """Relative RMS change of one seed's optimised appearance across chi (see module doc)."""
    if len(by_chi) < 2:
        return None
    stack = np.stack([np.asarray(a, dtype=np.float64).ravel() for a in by_chi.values()])
    centre = stack.mean(axis=0)
    size = float(np.linalg.norm(centre))
    if not math.isfinite(size) or size == 0.0:
        return None
    spread = math.sqrt(float(np.mean(np.sum((stack - centre) ** 2, axis=1))))
    return spread / size


def unit_appearance_change(seeds: Iterable[Mapping[float, np.ndarray]]) -> float | None:
    """Mean over seeds of :func:`appearance_change`; None when no seed has a value."""
    values = [v for v in (appearance_change(s) for s in seeds) if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None
