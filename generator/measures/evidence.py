"""Real-clip evidence of a unit across its whole activation range, not only its top clips.

From every held-out clip's response of a unit: a histogram of the responses, and a few clips
sampled at several quantiles of them (the clips whose responses lie nearest each quantile),
so a page shows what drives the unit weakly and moderately as well as most.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

QUANTILES = (0.1, 0.5, 0.9, 0.99)
PER_QUANTILE = 2
BINS = 20


def histogram(values: np.ndarray, bins: int = BINS) -> tuple[list[int], float, float]:
    """(counts, low, high) of ``values`` over ``bins`` equal bins from their minimum to maximum."""
    v = np.asarray(values, dtype=np.float64)
    low, high = float(v.min()), float(v.max())
    if high <= low:
        high = low + 1.0
    counts, _ = np.histogram(v, bins=bins, range=(low, high))
    return counts.astype(int).tolist(), low, high


def quantile_samples(
    values: np.ndarray, quantiles: Sequence[float] = QUANTILES, per: int = PER_QUANTILE
) -> list[tuple[float, int, float]]:
    """(quantile, clip index, response) of the ``per`` clips nearest each quantile of the
    responses; a clip is used once (at the lowest quantile that picks it)."""
    v = np.asarray(values, dtype=np.float64)
    taken: set[int] = set()
    picked = []
    for q in quantiles:
        target = float(np.quantile(v, q))
        order = np.argsort(np.abs(v - target), kind="stable")
        chosen = [int(i) for i in order if int(i) not in taken][:per]
        taken.update(chosen)
        picked.extend((float(q), i, float(v[i])) for i in sorted(chosen, key=lambda i: v[i]))
    return picked


def histogram_bins(unit_id: str, values: np.ndarray, bins: int = BINS) -> list[dict]:
    """Rows of the activation_histograms table for one unit's responses ``values``."""
    counts, low, high = histogram(values, bins)
    width = (high - low) / len(counts)
    return [
        {"unit_id": unit_id, "bin": b, "low": low + b * width, "high": low + (b + 1) * width, "clips": count}
        for b, count in enumerate(counts)
    ]
