"""Row sharing: rows that differ only in chi run the network once, on a representative row.

See :class:`RowSharing` for when this is exact.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from generator.engine.plan import Row, RowMoves, row_seed


@dataclasses.dataclass(frozen=True)
class RowSharing:
    """Rows that differ only in chi, for a layer that no temporal input reaches.

    chi then only weighs the temporal variation of inputs the layer does not see, so the
    inputs it does see follow the same trajectory in all such rows (same noise, same jitter,
    same gradients). The network runs on one representative row per group, and after every
    step the representative's seen inputs and optimiser state are copied to the others;
    the unseen inputs of every row are still optimised by their own regularisers with their
    own chi. The results equal those of separate runs, at a fraction of the network cost.
    """

    reps: Tensor  # (R,) long: the representative rows
    group: Tensor  # (B,) long: the position in ``reps`` of each row's representative
    is_rep: Tensor  # (B,) bool
    copies: Tensor  # (D,) long: rows that are not representatives
    sources: Tensor  # (D,) long: their representatives (row indices)


def row_sharing(
    layer: str, rows: Sequence[Row], moves: Sequence[RowMoves], device: torch.device
) -> RowSharing | None:
    """Groups of rows that can share the network, or None when every row needs its own."""
    position: dict[tuple[int, int], int] = {}  # (unit, seed) -> index into reps
    reps: list[int] = []
    group: list[int] = []
    for b, row in enumerate(rows):
        key = (row.unit, row.seed)
        if key not in position:
            position[key] = len(reps)
            reps.append(b)
        group.append(position[key])
    if len(reps) == len(rows):
        return None
    source = [reps[g] for g in group]  # each row's representative
    for b, rep in enumerate(source):
        # The seeds of a row exclude chi, so this holds; checked because sharing relies on it.
        # Equal row seeds mean equal starting noise (drawn from the seed alone).
        same = row_seed(layer, rows[b]) == row_seed(layer, rows[rep])
        moved = (
            torch.equal(getattr(moves[b], n), getattr(moves[rep], n)) for n in ("shifts", "scales", "angles")
        )
        if not same or not all(moved):
            return None
    copies = [b for b, rep in enumerate(source) if rep != b]
    as_long = functools.partial(torch.tensor, dtype=torch.long, device=device)
    return RowSharing(
        reps=as_long(reps),
        group=as_long(group),
        is_rep=torch.tensor([rep == b for b, rep in enumerate(source)], dtype=torch.bool, device=device),
        copies=as_long(copies),
        sources=as_long([source[b] for b in copies]),
    )


def network_rows(xs: Sequence[Tensor], share: RowSharing | None) -> list[Tensor]:
    """The rows the network runs on: all of them, or the representatives when rows share it."""
    return list(xs) if share is None else [x[share.reps] for x in xs]
