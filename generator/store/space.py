"""Disk space: what a folder holds and has free, and the error of a full disk that says how much more
the rest of the build needs."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterable
from pathlib import Path

MB = 1024 * 1024


class DiskFull(OSError):
    """No space left on device, with an estimate of the bytes the unfinished work still needs."""

    def __init__(self, folder: Path | str, needed_bytes: int, what: str) -> None:
        super().__init__(errno.ENOSPC, "No space left on device", str(folder))
        self.needed_bytes = needed_bytes
        self.what = what  # how the estimate was made, for the message


def free_bytes(folder: Path | str) -> int | None:
    """Free bytes on the disk holding ``folder`` (its nearest existing parent); None if unknown."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def files_bytes(paths: Iterable[Path]) -> int:
    """The summed size of the files that exist among ``paths``."""
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total


def folder_bytes(folder: Path | str) -> int:
    """The summed size of every file under ``folder`` (0 when it does not exist)."""
    return files_bytes(p for p in Path(folder).rglob("*") if p.is_file())


def megabytes(count: int) -> str:
    return f"{count / MB:.1f} MB"
