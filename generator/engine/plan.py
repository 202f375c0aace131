"""Rows and batches: which (unit, chi, seed) problems are solved together, and their randomness.

Every row draws all its randomness from its own seed, made from (seed, layer, unit): the
starting noise from a counter-based generator on the device, for the whole batch at once
and the same bit for bit on every device (:mod:`generator.engine.noise`); the few per-step
transformations (jitter shifts, scales, rotations) from a ``torch.Generator`` on the CPU
seeded with it. A row's result therefore does not depend on the batch it runs in, on the
device, or on the global RNG.

*(choice)* chi is deliberately not part of the seed: the rows of a chi sweep start from
the same noise and see the same jitter sequence, so their differences come from chi
alone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from generator.engine.noise import input_uniforms, paper_noise
from generator.zoo.spec import InputSpec


@dataclass(frozen=True)
class Row:
    """One optimisation problem: a unit at one chi from one seed."""

    unit: int
    chi: float
    seed: int


def plan_rows(units: Sequence[int], chis: Sequence[float], seeds: Sequence[int]) -> tuple[Row, ...]:
    """All combinations, in the deterministic result order: unit, then chi, then seed."""
    return tuple(Row(int(u), float(c), int(s)) for u in units for c in chis for s in seeds)


def iter_batches(rows: Sequence[Row], batch_size: int) -> Iterator[tuple[Row, ...]]:
    """Consecutive chunks of at most ``batch_size`` rows."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    for start in range(0, len(rows), batch_size):
        yield tuple(rows[start : start + batch_size])


def row_seed(layer: str, row: Row) -> int:
    """A stable 63-bit seed from (seed, layer, unit) (sha256, independent of Python's hash)."""
    digest = hashlib.sha256(f"{row.seed}|{layer}|{row.unit}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass(frozen=True)
class RowMoves:
    """The per-step transformations of one row (small: drawn on the CPU)."""

    shifts: Tensor  # (steps, 2) integer (dy, dx) jitter
    scales: Tensor  # (steps,) scale factors of the robust transform
    angles: Tensor  # (steps,) rotation angles in radians


@dataclass(frozen=True)
class RowNoise(RowMoves):
    """Everything random about one row: its initial inputs and its moves."""

    init: tuple[Tensor, ...] = ()  # per input, (C, T, H, W) network units


def draw_row(
    layer: str,
    row: Row,
    *,
    steps: int,
    jitter: int,
    scale_range: float,
    rotation_degrees: float,
) -> RowMoves:
    """The row's per-step transformations, in a fixed draw order from its CPU generator."""
    generator = torch.Generator(device="cpu").manual_seed(row_seed(layer, row))
    shifts = torch.randint(-jitter, jitter + 1, (steps, 2), generator=generator)
    unit = torch.rand(steps, 2, generator=generator, dtype=torch.float64) * 2.0 - 1.0
    scales = (1.0 + scale_range * unit[:, 0]).float()
    angles = (math.radians(rotation_degrees) * unit[:, 1]).float()
    return RowMoves(shifts, scales, angles)


def draw_initial_inputs(
    layer: str, rows: Sequence[Row], specs: Sequence[InputSpec], bound: float, device: torch.device | str
) -> list[Tensor]:
    """Per input, the rows' starting noise stacked as (B, C, T, H, W), drawn and rescaled on
    ``device`` for the whole batch (only the rows' seeds cross from the host)."""
    seeds = torch.tensor([row_seed(layer, row) for row in rows], dtype=torch.int64, device=device)
    uniforms = input_uniforms(seeds, [spec.shape for spec in specs])
    return [paper_noise(u, bound) for u in uniforms]


def draw_row_noise(
    layer: str,
    row: Row,
    specs: Sequence[InputSpec],
    *,
    steps: int,
    bound: float,
    jitter: int,
    scale_range: float,
    rotation_degrees: float,
    device: torch.device | str = "cpu",
) -> RowNoise:
    """The row's initial inputs (on ``device``) and per-step transformations: what the
    engine draws for it in any batch."""
    moves = draw_row(
        layer, row, steps=steps, jitter=jitter, scale_range=scale_range, rotation_degrees=rotation_degrees
    )
    init = tuple(x[0] for x in draw_initial_inputs(layer, [row], specs, bound, device))
    return RowNoise(moves.shifts, moves.scales, moves.angles, init)
