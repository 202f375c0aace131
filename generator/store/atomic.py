"""Atomic file writes: a reader never sees a half-written file, a killed writer leaves none.

Everything is first written to a temporary file in the destination folder and then moved
into place with ``os.replace``, which is atomic on POSIX file systems. Temporary files and
folders carry their owner's tag (process id and host), so that a later run can tell the
leftovers of a killed process from the work of a live one and remove only those
(:func:`clean_leftovers`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{owner_tag()}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600 files; give results ordinary permissions so a web server can read them.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path | str, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, payload: Any) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


# A leftover of another host cannot be checked for a live owner: removed only once this old.
FOREIGN_LEFTOVER_SECONDS = 24 * 3600
_TAG = re.compile(r"\.(\d+)-([0-9a-f]{8})(?:\.|$)")
_LEFTOVER = re.compile(r"^\..*(\.part|\.building-\d+-[0-9a-f]{8}|\.old-\d+-[0-9a-f]{8})$")


def host_tag() -> str:
    """Eight hex digits naming this machine (a hash of its host name)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def owner_tag(pid: int | None = None) -> str:
    """``<pid>-<host>``: who owns a temporary file or folder."""
    return f"{os.getpid() if pid is None else pid}-{host_tag()}"


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_leftover(path: Path) -> bool:
    """A temporary file or folder (``.part``, ``.building-``, ``.old-``) whose owner is gone."""
    name = path.name
    if not _LEFTOVER.match(name):
        return False
    found = _TAG.search(name.replace("building-", ".").replace("old-", "."))
    if found is None:  # written before owners were tagged: nobody can still be writing it
        return True
    pid, host = int(found.group(1)), found.group(2)
    if host == host_tag():
        return not process_alive(pid)
    try:
        return time.time() - path.lstat().st_mtime > FOREIGN_LEFTOVER_SECONDS
    except OSError:
        return False


def clean_leftovers(
    root: Path | str, log: Callable[[str], None] | None = None, recursive: bool = True
) -> list[Path]:
    """Remove the temporary files and folders under ``root`` whose owning process is gone; return them."""
    base = Path(root)
    if not base.is_dir():
        return []
    removed = []
    candidates = base.rglob(".*") if recursive else base.glob(".*")
    for path in sorted(candidates):
        if not is_leftover(path) or any(parent in removed for parent in path.parents):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    if removed and log is not None:
        log(
            f"Removed {len(removed)} leftover(s) of killed runs: {', '.join(str(p) for p in removed[:5])}"
            + (f" and {len(removed) - 5} more." if len(removed) > 5 else ".")
        )
    return removed
