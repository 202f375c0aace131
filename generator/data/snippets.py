"""One path from a real clip on disk to a network's inputs.

A clip is read (video or frames folder), its snippets are placed evenly over it, each input of
the model gets its frames or flow stacks fitted to its ``InputSpec``, and the result is kept in
the stored form the synthetic world uses: RGB as uint8 (3, T, H, W) and flow as uint8 bytes of
the paper's 8-bit coding (2L, T, H, W), T = snippets x the input's frames. :func:`to_network_units`
turns the stored form into network units with the model's own RGB mean (and std, where a model
declares one), exactly as generator.world.inputs.network_units does for the synthetic world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.data.decode import (
    ClipError,
    fit_flow_bytes,
    fit_frames,
    flow_files,
    frame_files,
    read_image,
    read_video,
)
from generator.data.flow import raft_flow, tvl1_flow
from generator.data.layouts import ClipEntry
from generator.data.speed import faster_flow_bytes, faster_frames, slower_flow_bytes
from generator.world.flow import bytes_to_code, flow_to_bytes
from generator.world.inputs import appearance_from_frames, motion_stack
from generator.zoo.spec import InputSpec


@dataclass(frozen=True)
class ClipPlan:
    """What to make of every clip: the model's inputs, the snippets per clip and where flow comes from."""

    inputs: tuple[InputSpec, ...]
    snippets: int
    flow: str  # precomputed | tvl1 | raft
    raft_weights: Path | None = None
    speed: float = 1.0  # temporal resampling (generator.data.speed); 1 = the clip as it is

    @property
    def span(self) -> int:
        """Frames one snippet needs: the most frames of an RGB input, or L flow fields + 1."""
        needs = [s.frames if s.kind == "rgb" else s.flow_fields + 1 for s in self.inputs]
        return max(needs) if needs else 1

    def settings(self) -> dict:
        """The plan as plain JSON (part of the cache key); the mean is not part of the stored form."""
        return {
            "inputs": [[s.name, s.kind, s.channels, s.frames, s.height, s.width] for s in self.inputs],
            "snippets": self.snippets,
            "flow": self.flow,
            "speed": self.speed,
        }


def even_starts(frames: int, span: int, snippets: int) -> tuple[int, ...]:
    """First frames of ``snippets`` snippets of ``span`` frames spread evenly over a clip of ``frames``
    (the first and the last possible start included, as two-stream evaluation samples)."""
    last = frames - span
    if last < 0:
        raise ClipError(f"the clip has {frames} frames, fewer than the {span} one snippet needs")
    return tuple(int(s) for s in np.rint(np.linspace(0, last, snippets)))


def prepare_clip(entry: ClipEntry, plan: ClipPlan) -> dict[str, np.ndarray]:
    """The stored form of every input of ``plan`` for the clip ``entry`` (raises ClipError); a plan
    speed other than 1 replays the clip faster or slower (generator.data.speed)."""
    if entry.kind == "frames":
        stored = _from_frames_folder(entry, plan)
    else:
        frames = faster_frames(read_video(entry.path, entry.start, entry.end), plan.speed)
        stored = stored_from_frames(frames, plan)
    if plan.speed < 1:
        flows = {s.name for s in plan.inputs if s.kind == "flow"}
        stored = {
            name: slower_flow_bytes(a, plan.speed) if name in flows else a for name, a in stored.items()
        }
    return stored


def stored_from_frames(
    frames: np.ndarray, plan: ClipPlan, flow_bytes: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The stored inputs from a clip's uint8 frames (F, H, W, 3) and, for precomputed flow, its 8-bit
    flow (F-1, H, W, 2); flow is otherwise computed here on the frames fitted to each flow input."""
    starts = even_starts(len(frames), plan.span, plan.snippets)
    out = {}
    for spec in plan.inputs:
        if spec.kind == "rgb":
            index = [s + j for s in starts for j in range(spec.frames)]
            fitted = fit_frames(frames[sorted(set(index))], spec.height, spec.width)
            position = {t: i for i, t in enumerate(sorted(set(index)))}
            out[spec.name] = appearance_from_frames(fitted, [position[t] for t in index])
        else:
            out[spec.name] = _motion(frames, flow_bytes, starts, spec, plan)
    return out


def _motion(
    frames: np.ndarray, flow_bytes: np.ndarray | None, starts: Sequence[int], spec: InputSpec, plan: ClipPlan
) -> np.ndarray:
    count = spec.flow_fields
    pairs = sorted({s + j for s in starts for j in range(count)})
    if flow_bytes is not None:
        if len(flow_bytes) < max(pairs) + 1:
            raise ClipError(f"the clip has {len(flow_bytes)} flow fields; its snippets need {max(pairs) + 1}")
        fields = fit_flow_bytes(flow_bytes[pairs], spec.height, spec.width)
    else:
        fitted = fit_frames(frames, spec.height, spec.width)
        pixels = (
            raft_flow(fitted, pairs, plan.raft_weights) if plan.flow == "raft" else tvl1_flow(fitted, pairs)
        )
        fields = flow_to_bytes(pixels)
    # Fields placed at their frame pair t (only the used ones filled), so motion_stack slices by start.
    full = np.zeros((max(pairs) + 1, *fields.shape[1:]), dtype=fields.dtype)
    full[pairs] = fields
    return motion_stack(full, starts, count)


def _from_frames_folder(entry: ClipEntry, plan: ClipPlan) -> dict[str, np.ndarray]:
    """Only the frames and flow fields the snippets use are read from a frames-layout folder (all of
    them when the clip is replayed faster)."""
    files = frame_files(entry)
    if plan.speed > 1:
        return _faster_frames_folder(entry, plan, files)
    starts = even_starts(len(files), plan.span, plan.snippets)
    wanted = sorted({s + j for s in starts for j in range(plan.span)})
    frames = np.zeros((len(files), *read_image(files[wanted[0]], "RGB").shape), dtype=np.uint8)
    for t in wanted:
        frames[t] = read_image(files[t], "RGB")
    flow = None
    if plan.flow == "precomputed" and any(s.kind == "flow" for s in plan.inputs):
        xs, ys = flow_files(entry)
        pairs = sorted({t for t in wanted if t < len(files) - 1})
        if len(xs) < max(pairs) + 1:
            raise ClipError(f"{entry.path} holds {len(xs)} flow fields; its snippets need {max(pairs) + 1}")
        first = read_image(xs[pairs[0]], "L")
        flow = np.full((max(pairs) + 1, *first.shape, 2), 128, dtype=np.uint8)
        for t in pairs:
            flow[t, ..., 0], flow[t, ..., 1] = read_image(xs[t], "L"), read_image(ys[t], "L")
    return stored_from_frames(frames, plan, flow)


def _faster_frames_folder(entry: ClipEntry, plan: ClipPlan, files: list[Path]) -> dict[str, np.ndarray]:
    frames = faster_frames(np.stack([read_image(f, "RGB") for f in files]), plan.speed)
    flow = None
    if plan.flow == "precomputed" and any(s.kind == "flow" for s in plan.inputs):
        xs, ys = flow_files(entry)
        coded = np.stack(
            [np.stack([read_image(x, "L"), read_image(y, "L")], axis=-1) for x, y in zip(xs, ys)]
        )
        flow = faster_flow_bytes(coded, plan.speed)
    return stored_from_frames(frames, plan, flow)


def to_network_units(stored: dict[str, np.ndarray], inputs: Sequence[InputSpec]) -> tuple[np.ndarray, ...]:
    """Stored form -> float32 network units in the model's input order: RGB minus the model's mean (divided
    by its std where it declares one), flow byte minus 128."""
    out = []
    for spec in inputs:
        value = stored[spec.name]
        if spec.kind == "flow":
            out.append(bytes_to_code(value))
            continue
        x = np.asarray(value, dtype=np.float32)
        if spec.mean is not None:
            x = x - np.asarray(spec.mean, dtype=np.float32)[:, None, None, None]
        std = getattr(spec, "std", None)
        if std is not None:
            x = x / np.asarray(std, dtype=np.float32)[:, None, None, None]
        out.append(x)
    return tuple(out)
