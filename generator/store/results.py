"""Finished visualizations on disk: one ``.npz`` per (unit, chi, seed), found by its result key.

A result file holds the optimised inputs (float16 is enough to re-render and re-analyse
them), the loss curve and a JSON metadata record. Files are written atomically, and a file
is trusted only once it reads back whole (:func:`stored_status`): a resumed build skips a
finished result, recomputes a damaged one (logging its path) and retries a failed one.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.store.atomic import write_bytes
from generator.store.keys import unit_path
from generator.store.verify import Log, result_problem, sound

RESULTS_DIR = "results"


@dataclass(frozen=True)
class StoredResult:
    """A visualization read back from disk."""

    inputs: dict[str, np.ndarray]  # input name -> (C, T, H, W) float32, network units
    loss: np.ndarray  # per step
    meta: dict[str, Any]


def result_file(root: Path, unit_id: str, chi: float, seed: int, key: str) -> Path:
    """Where the result of (unit, chi, seed) with ``key`` lives under the output folder ``root``."""
    return Path(root) / RESULTS_DIR / unit_path(unit_id) / f"chi{chi:g}_seed{seed}_{key}.npz"


def save_result(path: Path, inputs: dict[str, np.ndarray], loss: np.ndarray, meta: dict[str, Any]) -> None:
    """Write one result atomically (inputs stored as float16)."""
    arrays = {f"input_{name}": np.asarray(value, dtype=np.float16) for name, value in inputs.items()}
    arrays["loss"] = np.asarray(loss, dtype=np.float32)
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes(path, buffer.getvalue())


def load_result(path: Path) -> StoredResult:
    """Read a result written by :func:`save_result`."""
    with np.load(path, allow_pickle=False) as data:
        inputs = {
            k[len("input_") :]: data[k].astype(np.float32) for k in data.files if k.startswith("input_")
        }
        meta = json.loads(bytes(data["meta"]).decode())
        return StoredResult(inputs=inputs, loss=data["loss"].copy(), meta=meta)


def stored_status(path: Path, log: Log | None = None, remove: bool = True) -> str | None:
    """The status of the result stored at ``path`` ("ok" or "failed: ..."), or None when there is
    none: absent, or damaged (then its path is logged and, when ``remove``, it is removed so
    that it is recomputed)."""
    if not sound(path, result_problem, log, remove):
        return None
    with np.load(path, allow_pickle=False) as data:
        return str(json.loads(bytes(data["meta"]).decode())["status"])
