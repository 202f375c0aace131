"""Worker processes that do not outlive the build that started them.

A ProcessPoolExecutor worker waits for work on a pipe that its sibling workers also hold
open, so when the parent is killed (SIGKILL, an out-of-memory kill) the workers never see
the pipe close and would wait forever, each holding a copy of the model. Every pool of the
build starts its workers with :func:`exit_with_parent`, which ends a worker within about a
second of its parent's death. A finished result is written atomically by whoever writes it,
so a worker cut off mid-task leaves no partial file.
"""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 0.5


def exit_with_parent() -> None:
    """In a worker process: exit as soon as the process that started it is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:  # an orphan is re-parented, so its parent id changes
            time.sleep(POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
