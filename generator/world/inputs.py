"""Clip -> network inputs (contract units): appearance (3, T, H, W) and motion (2L, T, H, W), float32."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator.errors import ConfigError
from generator.world.flow import bytes_to_code, flow_to_bytes
from generator.world.render import Clip
from generator.world.spec import WorldSpec

RGB_MEAN: tuple[float, float, float] = (123.68, 116.78, 103.94)
"""Per-channel mean subtracted from RGB frames (network units)."""


def snippet_starts(spec: WorldSpec) -> tuple[int, ...]:
    """Default first frames of the T snippets: 0, gap, 2 gap, ..."""
    return tuple(k * spec.snippet_gap for k in range(spec.snippets))


def check_starts(starts: Sequence[int], frames: int, flow_fields: int) -> tuple[int, ...]:
    """Validated snippet starts: each needs its frame and L flow fields inside the clip."""
    out = tuple(int(s) for s in starts)
    last = frames - 1 - flow_fields  # the flow stack starting at s uses flow[s .. s+L-1], flow has F-1 fields
    bad = [s for s in out if not 0 <= s <= last]
    if not out or bad:
        raise ConfigError(
            f"Snippet start frames {list(out)} do not fit a clip of {frames} frames with {flow_fields} flow fields; "
            f"each start must be in 0..{last}."
        )
    return out


def appearance_from_frames(frames: np.ndarray, starts: Sequence[int]) -> np.ndarray:
    """uint8 frames (F, H, W, 3) -> the snippets' frames (3, T, H, W), still uint8."""
    return np.ascontiguousarray(frames[list(starts)].transpose(3, 0, 1, 2))


def motion_stack(flow: np.ndarray, starts: Sequence[int], flow_fields: int) -> np.ndarray:
    """Flow (F-1, H, W, 2) -> (2L, T, H, W) stacks in the flow's units, channels (u1, v1, ..., uL, vL)."""
    stacks = np.stack([flow[s : s + flow_fields] for s in starts], axis=0)  # (T, L, H, W, 2)
    t, l, h, w, _ = stacks.shape
    return np.ascontiguousarray(stacks.transpose(1, 4, 0, 2, 3).reshape(2 * l, t, h, w))


def stored_inputs(
    clip: Clip, spec: WorldSpec, start_frames: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The clip's snippets in the dataset's stored form: appearance (3, T, H, W) uint8 RGB and
    motion (2L, T, H, W) uint8 bytes of the paper's 8-bit flow coding (L fields from each start)."""
    wanted = snippet_starts(spec) if start_frames is None else start_frames
    starts = check_starts(wanted, len(clip.frames), spec.flow_fields)
    motion = flow_to_bytes(motion_stack(clip.flow, starts, spec.flow_fields))
    return appearance_from_frames(clip.frames, starts), motion


def network_units(appearance: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored form -> float32 network units: RGB minus RGB_MEAN, and the flow byte minus 128."""
    mean = np.asarray(RGB_MEAN, dtype=np.float32)[:, None, None, None]
    return np.asarray(appearance, dtype=np.float32) - mean, bytes_to_code(motion)


def to_network_inputs(
    clip: Clip, spec: WorldSpec, start_frames: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(appearance (3, T, H, W), motion (2L, T, H, W)) float32 in network units, through the
    stored form: exactly what the dataset serves for this clip, and what the model was trained on.

    The exact code of zero flow is -0.5 while its stored byte decodes to 0; a net that never
    saw a uniform -0.5 background can read it as motion (what the default model did with
    exact codes is in bench/results/notes.md)."""
    return network_units(*stored_inputs(clip, spec, start_frames))
