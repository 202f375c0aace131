"""Small inline SVG charts (no plotting library): line charts and histograms.

Text and axes use ``currentColor`` so the charts follow the light or dark theme; series
colours are mid-tones readable on both. The SVG scales with its container (viewBox).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

COLOURS = ("#3f7fd0", "#e0576b", "#2fa38a", "#d9902b", "#8e67c9")
WIDTH, HEIGHT = 640, 340
LEFT, RIGHT, TOP, BOTTOM = 76, 40, 16, 96  # room for the first rotated tick label


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _frame(y_low: float, y_high: float, y_label: str, x_label: str, title: str) -> list[str]:
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="atlas-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="12" fill="currentColor">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in _ticks(y_low, y_high):
        y = TOP + inner_h * (1 - (tick - y_low) / ((y_high - y_low) or 1))
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="currentColor" '
            f'stroke-opacity="0.15"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text x="14" y="{TOP + inner_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + inner_h / 2:.1f})">{escape(y_label)}</text>'
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    return parts


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float | None]]]],
    x_labels: Sequence[tuple[float, str]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    y_range: tuple[float, float] | None = None,
) -> Markup:
    """Lines with dots; points with y None are skipped. ``x_labels``: (x, label) ticks."""
    ys = [y for _, points in series for _, y in points if y is not None and not math.isnan(y)]
    xs = [x for x, _ in x_labels] + [x for _, points in series for x, _ in points]
    if not xs:
        return Markup("")
    y_low, y_high = y_range or (min(ys + [0.0]), max(ys + [1.0]))
    x_low, x_high = min(xs), max(xs)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + 10 + (inner_w - 20) * ((x - x_low) / ((x_high - x_low) or 1))

    def py(y: float) -> float:
        return TOP + inner_h * (1 - (y - y_low) / ((y_high - y_low) or 1))

    parts = _frame(y_low, y_high, y_label, x_label, title)
    rotate = len(x_labels) > 4
    for x, label in x_labels:
        label = label if len(label) <= 22 else label[:21] + "\u2026"
        anchor = "end" if rotate else "middle"
        transform = f' transform="rotate(-40 {px(x):.1f} {HEIGHT - BOTTOM + 14})"' if rotate else ""
        parts.append(
            f'<text x="{px(x):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="{anchor}"{transform} font-size="10">'
            f"{escape(label)}</text>"
        )
    for index, (name, points) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        kept = [(x, y) for x, y in points if y is not None and not math.isnan(y)]
        if len(kept) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in kept)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in kept:
            parts.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(name)}: {y:.3f}</title></circle>"
            )
        legend_x = LEFT + 12 + index * min(170, (WIDTH - LEFT - RIGHT) // max(len(series), 1))
        parts.append(
            f'<rect x="{legend_x}" y="{TOP}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{legend_x + 16}" y="{TOP + 6}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(
    values: Sequence[float],
    *,
    bins: int = 20,
    value_range: tuple[float, float] = (0.0, 1.0),
    x_label: str,
    title: str,
) -> Markup:
    """Counts of ``values`` in equal bins over ``value_range``."""
    low, high = value_range
    counts = [0] * bins
    for value in values:
        if value is None or math.isnan(value):
            continue
        index = min(max(int((value - low) / (high - low) * bins), 0), bins - 1)
        counts[index] += 1
    return bars(counts, low, high, x_label=x_label, title=title)


def bars(
    counts: Sequence[int],
    low: float,
    high: float,
    *,
    x_label: str,
    title: str,
    y_label: str = "units",
    marks: Sequence[tuple[float, str]] = (),
) -> Markup:
    """A histogram of ``counts`` in equal bins from ``low`` to ``high``; ``marks``: (x, label)
    vertical lines drawn over it (e.g. the quantiles clips were sampled at)."""
    bins = len(counts)
    top = max(list(counts) + [1])
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(0, top, y_label, x_label, title)
    width = inner_w / bins
    for index, count in enumerate(counts):
        h = inner_h * count / top
        parts.append(
            f'<rect x="{LEFT + index * width + 1:.1f}" y="{TOP + inner_h - h:.1f}" width="{width - 2:.1f}" '
            f'height="{h:.1f}" fill="{COLOURS[0]}"><title>{low + index * (high - low) / bins:.2f}-'
            f"{low + (index + 1) * (high - low) / bins:.2f}: {count}</title></rect>"
        )
    for tick in _ticks(low, high):
        x = LEFT + inner_w * (tick - low) / (high - low)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{tick:g}</text>')
    for value, label in marks:
        x = LEFT + inner_w * (value - low) / ((high - low) or 1)
        parts.append(
            f'<line class="atlas-mark" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + inner_h}" '
            f'stroke="{COLOURS[1]}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="{TOP + 12}" font-size="10" fill="{COLOURS[1]}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
