"""Part files: the per-unit tables of one rank, merged by rank 0 into the atlas tables.

Under torchrun each rank writes the rows of its own units to
``<output>/tables/parts/<table>.rank-<r>-of-<N>.parquet`` (atomically, through the
validating table writer); rank 0 reads every rank's part back, puts the rows in the order
of the selection, exactly as a single-process run lists them, and deletes the parts once
the tables are written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from generator.pipeline.select import Selection
from generator.store.parquet import read_table, write_table
from generator.store.schema import TABLES_DIR

PARTS_DIR = "parts"
Row = dict[str, Any]


def parts_folder(output: Path) -> Path:
    """The folder of the part files inside an atlas folder."""
    return Path(output) / TABLES_DIR / PARTS_DIR


def part_path(output: Path, table: str, rank: int, world: int) -> Path:
    """Where ``rank`` of ``world`` writes its part of ``table``."""
    return parts_folder(output) / f"{table}.rank-{rank:05d}-of-{world:05d}.parquet"


def write_part(
    output: Path, table: str, rows: Sequence[Row], rank: int, world: int, metadata: Mapping[str, Any]
) -> Path:
    """Validate and write this rank's rows of ``table``."""
    return write_table(table, rows, part_path(output, table, rank, world), metadata)


def unit_order(selection: Selection, unit_id: Callable[[str, int], str]) -> dict[str, int]:
    """unit id -> its position in ``selection`` (the order of a single-process run's rows)."""
    flat = [unit_id(layer, unit) for layer, units in selection.layers for unit in units]
    return {uid: i for i, uid in enumerate(flat)}


def merge_parts(output: Path, table: str, world: int, order: Mapping[str, int]) -> list[Row]:
    """Every rank's rows of ``table``, sorted by their unit's position in ``order`` (stable, so
    the rows of one unit keep the order its rank wrote them in)."""
    paths = [part_path(output, table, rank, world) for rank in range(world)]
    rows = [row for path in paths for row in read_table(path, table).to_pylist()]
    return sorted(rows, key=lambda row: order[row["unit_id"]])


def remove_parts(output: Path) -> None:
    """Delete the parts folder with every part file in it (also those of earlier, interrupted runs)."""
    folder = parts_folder(output)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        path.unlink(missing_ok=True)
    folder.rmdir()
