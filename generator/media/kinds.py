"""The kinds of media a visualization or clip has, by the names used in file names, table
columns and pages.

``appearance`` shows the RGB input; ``colorwheel`` and ``xymag`` are the two flow codes of
the motion input (:mod:`generator.media.flow_codes`); ``composite`` puts them side by side.
"""

from __future__ import annotations

from typing import Literal, get_args

FlowCode = Literal["colorwheel", "xymag"]
FLOW_CODES: tuple[FlowCode, ...] = get_args(FlowCode)

# The kinds that show one input each: the panels of the composite, in display order.
PANEL_KINDS = ("appearance", *FLOW_CODES)
# Every kind of video a media set can hold, in display order (the composite last).
MEDIA_KINDS = (*PANEL_KINDS, "composite")

# How pages name each panel.
PANEL_LABELS = {
    "appearance": "appearance",
    "colorwheel": "flow: colour wheel",
    "xymag": "flow: x, y, magnitude",
}


def kinds_written(has_rgb: bool, has_flow: bool) -> tuple[str, ...]:
    """The kinds a media set writes videos of for these inputs; without flow the composite is
    the appearance video itself (it gets no file of its own)."""
    return (("appearance",) if has_rgb else ()) + ((*FLOW_CODES, "composite") if has_flow else ())
