"""The cache of prepared clips: per clip and settings, the stored inputs as memory-mapped .npy files.

A clip's entry is keyed by the sha256 of its file's content (every image of a frames folder),
the plan (inputs, snippets, flow method and its settings) and this package's code, so a
changed video, setting or decoder prepares it afresh and a rerun prepares nothing. An entry is
a folder written under a temporary name and renamed into place when complete: a kill leaves
only temporary folders, which are never read. A clip that cannot be used is cached too, as its
reason, so a rerun does not try to decode it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from generator.data.decode import ClipError
from generator.data.layouts import ClipEntry

CACHE_FOLDER = "folder_clips"
_META = "meta.json"
_CHUNK = 1 << 20


@lru_cache(maxsize=1)
def data_code_digest() -> str:
    """sha256 of this package's source: a change to how clips are read invalidates the cache."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def content_digest(entry: ClipEntry) -> str:
    """sha256 of the clip's bytes: the video file, or every file (name and bytes) of its frames folder."""
    digest = hashlib.sha256()
    try:
        if entry.kind == "frames":
            if not entry.path.is_dir():
                raise ClipError(f"the frames folder {entry.path} does not exist")
            files = sorted(p for p in entry.path.rglob("*") if p.is_file())
        else:
            if not entry.path.is_file():
                raise ClipError(f"the file {entry.path} does not exist")
            files = [entry.path]
        for path in files:
            digest.update(path.relative_to(entry.path).as_posix().encode() if entry.kind == "frames" else b"")
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
    except OSError as error:
        raise ClipError(f"cannot read {entry.path}: {error.strerror or error}") from None
    return digest.hexdigest()


def entry_key(content: str, entry: ClipEntry, settings: dict[str, Any]) -> str:
    payload = {
        "content": content,
        "start": entry.start,
        "end": entry.end,
        "frames": entry.num_frames,
        "settings": settings,
        "code": data_code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def entry_folder(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / CACHE_FOLDER / key[:2] / key


def read_entry(folder: Path) -> dict[str, Any] | None:
    """The cached outcome of a clip: {'ok': True, 'inputs': [...]} or {'ok': False, 'reason': ...}; None if absent."""
    meta = folder / _META
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: prepared again


def load_inputs(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The stored inputs of a cached clip, memory-mapped."""
    return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in names}


def write_entry(folder: Path, arrays: dict[str, np.ndarray] | None, reason: str | None = None) -> None:
    """Store a clip's arrays (or the reason it is skipped) atomically as ``folder``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, array in (arrays or {}).items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
        meta = (
            {"ok": True, "inputs": sorted(arrays)} if arrays is not None else {"ok": False, "reason": reason}
        )
        (tmp / _META).write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:
            if read_entry(folder) is None:  # not a concurrent writer that finished first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
