"""Inline SVG of a unit's direction and speed tuning: a polar plot and a speed curve.

The polar plot draws the response to each of the 16 drift directions as the distance from
the centre (up on screen is up in the plot), one closed line per speed with the preferred
speed drawn bold, and an arrow along the preferred direction whose length is the
direction-selectivity index. Text uses ``currentColor`` so the plots follow the theme.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from generator.measures.tuning import arrow
from generator.site.plots import COLOURS, line_chart

SIZE, RADIUS = 320, 120


def _xy(angle: float, radius: float) -> tuple[float, float]:
    # Screen y grows downward; 90 degrees (upward drift) is drawn upward.
    return SIZE / 2 + radius * math.cos(math.radians(angle)), SIZE / 2 - radius * math.sin(
        math.radians(angle)
    )


def polar_plot(
    directions: Sequence[float],
    by_speed: Sequence[tuple[float, Sequence[float]]],
    preferred: tuple[float, float, float] | None,
    title: str,
) -> Markup:
    """``by_speed``: (speed, responses over ``directions``); ``preferred``: (direction, speed, DSI) or None."""
    top = max([max(r) for _, r in by_speed if len(r)] + [0.0]) or 1.0
    parts = [
        f'<svg class="atlas-svg atlas-polar" viewBox="0 0 {SIZE} {SIZE}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="12" fill="currentColor"'
        + (
            f' data-preferred-direction="{preferred[0]:.1f}" data-preferred-speed="{preferred[1]:g}"'
            f' data-dsi="{preferred[2]:.3f}"'
            if preferred
            else ""
        )
        + f"><title>{escape(title)}</title>"
    ]
    for fraction in (0.5, 1.0):
        parts.append(
            f'<circle cx="{SIZE / 2}" cy="{SIZE / 2}" r="{RADIUS * fraction:.1f}" fill="none" '
            f'stroke="currentColor" stroke-opacity="0.2"/>'
        )
    for angle in range(0, 360, 45):
        x, y = _xy(angle, RADIUS)
        lx, ly = _xy(angle, RADIUS + 16)
        parts.append(
            f'<line x1="{SIZE / 2}" y1="{SIZE / 2}" x2="{x:.1f}" y2="{y:.1f}" stroke="currentColor" '
            f'stroke-opacity="0.12"/><text x="{lx:.1f}" y="{ly + 5:.1f}" text-anchor="middle" '
            f'font-size="15">{arrow(angle)}</text>'
        )
    parts.append(
        f'<text x="{SIZE / 2 + 4}" y="{SIZE / 2 - RADIUS - 2:.1f}" font-size="9" fill-opacity="0.7">'
        f"{top:.3g}</text>"
    )
    for index, (speed, responses) in enumerate(by_speed):
        bold = preferred is not None and speed == preferred[1]
        points = " ".join(
            f"{x:.1f},{y:.1f}"
            for x, y in (_xy(a, RADIUS * max(r, 0.0) / top) for a, r in zip(directions, responses))
        )
        parts.append(
            f'<polygon class="atlas-polar-speed" data-speed="{speed:g}" points="{points}" fill="none" '
            f'stroke="{COLOURS[index % len(COLOURS)]}" stroke-width="{3 if bold else 1}" '
            f'stroke-opacity="{1 if bold else 0.55}"><title>{speed:g} px per field</title></polygon>'
        )
    if preferred:
        x, y = _xy(preferred[0], RADIUS * preferred[2])
        parts.append(
            f'<line class="atlas-polar-preferred" x1="{SIZE / 2}" y1="{SIZE / 2}" x2="{x:.1f}" '
            f'y2="{y:.1f}" stroke="currentColor" stroke-width="2.5"/><circle cx="{x:.1f}" cy="{y:.1f}" '
            f'r="4"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def speed_curve(speeds: Sequence[float], best: Sequence[float], mean: Sequence[float], title: str) -> Markup:
    """Response against drift speed: at the preferred direction and averaged over directions."""
    xs = [math.log2(s) for s in speeds]
    return line_chart(
        [("preferred direction", list(zip(xs, best))), ("mean over directions", list(zip(xs, mean)))],
        [(x, f"{s:g}") for x, s in zip(xs, speeds)],
        x_label="drift speed (pixels per flow field, log scale)",
        y_label="response",
        title=title,
    )
