"""Objectives for :func:`generator.visualize`; they compose with + - * / and numbers.

objectives.unit("motion/conv3_1/0017") - 0.5 * objectives.unit("motion/conv3_1/0003")
objectives.channel("fusion/conv4_fusion", 5) + objectives.diversity("fusion/conv4_fusion")
"""

from generator.engine.objective_algebra import (
    Objective,
    channel,
    class_score,
    direction,
    diversity,
    neuron,
    parse_unit_id,
    unit,
)

__all__ = ["Objective", "channel", "class_score", "direction", "diversity", "neuron", "parse_unit_id", "unit"]
