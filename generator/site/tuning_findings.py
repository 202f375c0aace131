"""The findings page's check of direction tuning against the synthetic world's planted motion.

The class outputs of a model of the synthetic world can be compared with the motion planted
in their classes (generator.world.classes.PLANTED_AXES). The planted motions oscillate along
one axis (up and down, side to side), so the comparison uses the axis preference (second
harmonic) as well as the one-way preferred direction (first harmonic).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from generator.measures.tuning import axis, axis_preference
from generator.site.data import AtlasData
from generator.world.classes import PLANTED_AXES


def class_tuning(data: AtlasData) -> dict[str, Any] | None:
    """Per class output with tuning: its preferred direction, speed and axis, and the planted
    axis where the world has one; with counts of agreement. None without tuning."""
    rows = []
    for cls in data.classes:
        unit = data.unit_by_id.get(cls["unit_id"])
        grid = data.tuning.get(cls["unit_id"], [])
        if not unit or not grid or unit.get("preferred_speed") is None:
            continue
        by_speed: dict[float, dict[float, float]] = defaultdict(dict)
        for r in grid:
            by_speed[r["speed"]][r["direction"]] = r["response"]
        angles = np.array(sorted(by_speed[unit["preferred_speed"]]))
        at_speed = np.array([[by_speed[unit["preferred_speed"]][a] for a in angles]])
        axis_angle, axis_selectivity = axis_preference(at_speed, angles)
        planted = PLANTED_AXES.get(cls["class_name"])
        rows.append(
            {
                "class": cls["class_name"],
                "unit_id": cls["unit_id"],
                "planted": planted,
                "direction": unit["preferred_direction"],
                "dsi": unit["direction_selectivity"],
                "speed": unit["preferred_speed"],
                "axis_angle": float(axis_angle[0]),
                "axis": axis(float(axis_angle[0])),
                "axis_selectivity": float(axis_selectivity[0]),
                "slowest": unit["preferred_speed"] == min(by_speed),
            }
        )
    if not rows:
        return None
    checked = [r for r in rows if r["planted"]]
    return {
        "rows": rows,
        "checked": len(checked),
        "axis_matches": sum(r["axis"] == r["planted"] for r in checked),
        "direction_matches": sum(axis(r["direction"]) == r["planted"] for r in checked),
        "slowest": sum(r["slowest"] for r in rows),
        "median_dsi": float(np.median([r["dsi"] for r in rows])),
    }
