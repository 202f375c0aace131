"""Edits of a batch of network inputs that change one stream or one cue, for counting flips.

Inputs are in network units (generator.world.inputs): appearance (B, 3, T, H, W), RGB minus
its mean, and motion (B, 2L, T, H, W), flow fields (u1, v1, ..., uL, vL) in the paper's
coding. Zero is the input's mean in both: the mean frame, and no motion. Pure functions:
the arguments are never modified.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from generator.world.flow import CODE_RANGE

Batch = tuple[Tensor, Tensor]


def motion_zeroed(appearance: Tensor, motion: Tensor) -> Batch:
    """The motion stream held at its mean: no motion anywhere."""
    return appearance, torch.zeros_like(motion)


def appearance_zeroed(appearance: Tensor, motion: Tensor) -> Batch:
    """The appearance stream held at its mean: every pixel the mean colour."""
    return torch.zeros_like(appearance), motion


def time_reversed(appearance: Tensor, motion: Tensor) -> Batch:
    """The clip played backwards: snippets in reverse order, and within each flow stack the
    fields in reverse order with their directions negated (a backward step undoes the forward one)."""
    b, channels, t, h, w = motion.shape
    fields = motion.reshape(b, channels // 2, 2, t, h, w).flip(1).neg().reshape(b, channels, t, h, w)
    # Negating the coding's -128 would leave its range; clip as the 8-bit coding does.
    return appearance.flip(2), fields.flip(2).clamp(*CODE_RANGE)


def frames_frozen(appearance: Tensor, motion: Tensor) -> Batch:
    """A still video: the first snippet's frame in every snippet, and no motion."""
    return appearance[:, :, :1].expand_as(appearance).clone(), torch.zeros_like(motion)


INTERVENTIONS: dict[str, Callable[[Tensor, Tensor], Batch]] = {
    "motion_zeroed": motion_zeroed,
    "appearance_zeroed": appearance_zeroed,
    "time_reversed": time_reversed,
    "frames_frozen": frames_frozen,
}
"""Name -> edit, in the order the pages list them."""

INTERVENTION_LABELS = {
    "motion_zeroed": "motion stream zeroed",
    "appearance_zeroed": "appearance held at the mean frame",
    "time_reversed": "time reversed",
    "frames_frozen": "frames frozen (first frame, no motion)",
    "probe": "probe clip (both streams changed)",
    "appearance_only": "probe's appearance only (ordinary flow)",
    "flow_only": "probe's flow only (ordinary appearance)",
}
