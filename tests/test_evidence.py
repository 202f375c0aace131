"""Real-clip evidence across the activation range (generator.measures.evidence)."""

from __future__ import annotations

import numpy as np

from generator.measures.evidence import histogram, quantile_samples


def test_histogram_counts_every_clip_between_the_extremes() -> None:
    values = np.array([0.0, 0.1, 0.1, 0.5, 0.95, 1.0])
    counts, low, high = histogram(values, bins=10)
    assert (low, high) == (0.0, 1.0) and sum(counts) == 6
    assert counts[0] == 1 and counts[1] == 2 and counts[5] == 1 and counts[9] == 2
    flat, low, high = histogram(np.full(4, 2.0), bins=5)
    assert sum(flat) == 4 and high > low


def test_quantile_samples_are_the_clips_nearest_each_quantile_each_used_once() -> None:
    values = np.arange(101, dtype=float)[::-1]  # clip i responds 100 - i
    picked = quantile_samples(values, quantiles=(0.1, 0.5, 0.9), per=2)
    by_q = {}
    for q, clip, value in picked:
        assert values[clip] == value
        by_q.setdefault(q, []).append(value)
    assert sorted(by_q[0.5]) == [49.0, 50.0] or sorted(by_q[0.5]) == [50.0, 51.0]
    assert all(abs(v - 10.0) <= 1 for v in by_q[0.1]) and all(abs(v - 90.0) <= 1 for v in by_q[0.9])
    assert len({clip for _, clip, _ in picked}) == len(picked) == 6
    repeated = quantile_samples(np.zeros(5), quantiles=(0.5, 0.9), per=2)  # ties: still distinct clips
    assert len({clip for _, clip, _ in repeated}) == 4
