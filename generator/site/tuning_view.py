"""What a page says about a unit's direction and speed tuning: words, arrows and plots."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from generator.measures.tuning import SPEEDS, arrow, direction_word, speed_word
from generator.site.data import Row
from generator.site.tuning_plots import polar_plot, speed_curve


def tuning_words(unit: Row) -> str:
    """E.g. 'fast upward (↑)': the preferred speed's third and direction, or '' without tuning."""
    angle = unit.get("preferred_direction")
    if angle is None:
        return ""
    return f"{speed_word(unit.get('preferred_speed'))} {direction_word(angle)} ({arrow(angle)})".strip()


def tuning_view(unit: Row, rows: list[Row]) -> dict[str, Any] | None:
    """The tuning section of a unit page (plots, sentence), or None for a unit without tuning."""
    if not rows:
        return None
    by_speed: dict[float, dict[float, float]] = defaultdict(dict)
    for row in rows:
        by_speed[row["speed"]][row["direction"]] = row["response"]
    speeds = sorted(by_speed)
    directions = sorted(by_speed[speeds[0]])
    curves = [(s, [by_speed[s].get(d, 0.0) for d in directions]) for s in speeds]
    angle, speed, dsi = (
        unit.get("preferred_direction"),
        unit.get("preferred_speed"),
        unit.get("direction_selectivity"),
    )
    preferred = (angle, speed, dsi) if None not in (angle, speed, dsi) else None
    nearest = min(directions, key=lambda d: abs((d - angle + 180) % 360 - 180)) if preferred else None
    return {
        "words": tuning_words(unit),
        "arrow": arrow(angle),
        "angle": angle,
        "speed": speed,
        "dsi": dsi,
        "polar": polar_plot(directions, curves, preferred, f"Direction tuning of {unit['unit_id']}"),
        "speed_plot": speed_curve(
            speeds,
            [by_speed[s].get(nearest, 0.0) for s in speeds] if nearest is not None else [None] * len(speeds),
            [sum(by_speed[s].values()) / len(by_speed[s]) for s in speeds],
            f"Speed tuning of {unit['unit_id']}",
        ),
        "speeds": speeds or list(SPEEDS),
    }
