"""One writer per output folder: an advisory lock held for the whole of a run that writes it.

The lock is ``fcntl.flock`` on ``<output>/.atlas.lock``: the kernel releases it when its
process ends, however it ends, so a killed build never leaves a stale lock. The file names
its holder (process id, host, start time), so that a second run can say who is writing.
Once the lock is held, leftovers of killed runs (temporary files and folders whose owner is
gone) are removed: nothing else can be writing them.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from generator.errors import AtlasError
from generator.store.atomic import clean_leftovers
from generator.store.provenance import now_iso

LOCK_FILE = ".atlas.lock"


@contextmanager
def output_lock(
    output: Path | str, enabled: bool = True, log: Callable[[str], None] | None = None, create: bool = True
) -> Iterator[None]:
    """Hold the lock of ``output`` for the block (AtlasError naming the holder if another run has it).
    ``create=False``: a missing folder is not made (the command then reports it), and nothing is locked."""
    folder = Path(output)
    if not enabled or (not create and not folder.is_dir()):
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_FILE, "a+", encoding="utf-8")
    except OSError as error:
        raise AtlasError(
            f"Cannot create the output folder {folder} or its lock file ({error.strerror})."
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AtlasError(
                f"{folder} is being written by another atlas run ({_holder(handle)}); wait for it to "
                f"finish or stop it, then run again."
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}))
            handle.flush()
            clean_leftovers(folder, log=log)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(handle) -> str:
    handle.seek(0)
    try:
        record = json.loads(handle.read() or "{}")
    except ValueError:
        record = {}
    if "pid" not in record:
        return "a process that has not yet said who it is"
    return f"PID {record['pid']} on {record.get('host', '?')}, since {record.get('since', '?')}"
