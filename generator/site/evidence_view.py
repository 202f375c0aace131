"""What a unit page shows of its real-clip evidence: the histogram of its responses over the
held-out clips, marked at the quantiles that clips were sampled at, and those clips."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from generator.site.data import Row
from generator.site.plots import bars


def evidence_view(unit: Row, bins: list[Row], samples: list[Row]) -> dict[str, Any] | None:
    """The evidence section of a unit page, or None without a histogram."""
    if not bins:
        return None
    by_quantile = sorted(samples, key=lambda r: (r["quantile"], r["activation"]))
    groups = [(q, list(rows)) for q, rows in groupby(by_quantile, key=lambda r: r["quantile"])]
    marks = [(sum(r["activation"] for r in rows) / len(rows), f"q{100 * q:g}") for q, rows in groups]
    plot = bars(
        [b["clips"] for b in bins],
        bins[0]["low"],
        bins[-1]["high"],
        marks=marks,
        y_label="clips",
        x_label="response to a held-out clip",
        title=f"Responses of {unit['unit_id']} over the held-out clips",
    )
    return {"plot": plot, "groups": groups, "clips": sum(b["clips"] for b in bins)}
