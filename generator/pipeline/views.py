"""Per-stream views: which inputs a visualization optimises.

The joint view optimises every input, as the paper does. For a unit that fuses several
streams (a fusion convolution, or a class output fed by more than one input) the atlas also
makes one view per stream, ``<input>_only``, that optimises that input with every other
input held at its data mean (zeros in network units: the mean frame, zero flow). It is the
view in which a stream's own evidence shows. Results of a per-stream view are keyed by the
settings identity plus the view, so the joint view's keys are unchanged.
"""

from __future__ import annotations

from typing import Any

from generator.errors import ConfigError
from generator.zoo.spec import LayerInfo, ModelDescription

JOINT = "joint"
ONLY = "_only"


def layer_views(info: LayerInfo, description: ModelDescription, enabled: bool = True) -> tuple[str, ...]:
    """The views of a layer: joint, plus ``<input>_only`` for each input of a fusion layer or a
    class output that more than one input feeds (with ``enabled``)."""
    streams = [spec.name for spec in description.inputs if spec.name in info.streams]
    fuses = info.kind == "class" or info.kind in ("conv2d", "conv3d")
    if not enabled or len(streams) < 2 or not fuses:
        return (JOINT,)
    return (JOINT, *(f"{name}{ONLY}" for name in streams))


def held_inputs(view: str, description: ModelDescription) -> tuple[str, ...]:
    """The inputs a view holds at their mean (none for the joint view)."""
    if view == JOINT:
        return ()
    kept = view.removesuffix(ONLY)
    names = [spec.name for spec in description.inputs]
    if not view.endswith(ONLY) or kept not in names:
        raise ConfigError(
            f"Unknown view {view!r}; views are {JOINT!r} or '<input>{ONLY}' for inputs {names}."
        )
    return tuple(name for name in names if name != kept)


def view_identity(identity: dict[str, Any], view: str) -> dict[str, Any]:
    """The settings identity a result of ``view`` is keyed by (the joint view's is unchanged)."""
    return identity if view == JOINT else {**identity, "view": view}
