"""Split the site's page and file writing over processes.

The site writes one page, one JSON file and one embed view per unit, and links every unit's
media: independent writes, tens of thousands at paper scale, each a little Python. Forked
children share the parent's memory, so the atlas data read once is neither copied up front
nor pickled; each child takes every n-th item (:func:`shard_of`) and sends back a small
result. Where fork is missing (Windows, macOS defaults aside) the shards run one after another.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import TypeVar

from generator.errors import AtlasError
from generator.pipeline.workers import exit_with_parent

T = TypeVar("T")
Item = TypeVar("Item")
SERIAL_BELOW = 400  # units: below this, forking costs more than it saves


def site_workers(units: int, requested: int | None = None) -> int:
    """How many processes write a site of ``units`` units: ``requested``, else one per usable
    core (at most 8) for a large site and one for a small one."""
    if requested is not None:
        if requested < 1:
            raise AtlasError(f"workers must be at least 1, got {requested}.")
        return requested
    if units < SERIAL_BELOW:
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


def shard_of(items: Iterable[Item], shard: int, shards: int) -> Iterator[Item]:
    """Every ``shards``-th item, starting at ``shard`` (round robin keeps shards alike in size
    and in the mix of layers)."""
    for index, item in enumerate(items):
        if index % shards == shard:
            yield item


def _child(task: Callable[[int, int], T], shard: int, shards: int, send: Connection) -> None:
    exit_with_parent()
    try:
        result: tuple[bool, object] = (True, task(shard, shards))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent
        result = (False, error)
    try:
        send.send(result)
    except Exception:  # noqa: BLE001 - an exception that does not pickle goes back as text
        send.send((False, AtlasError(traceback.format_exception(result[1])[-1].strip())))
    send.close()


def run_shards(task: Callable[[int, int], T], shards: int) -> list[T]:
    """``task(shard, shards)`` for every shard, in that order; shard 0 runs in this process and
    the others in forked children. A child's exception is raised here, as it was raised there."""
    if shards <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [task(shard, shards) for shard in range(max(1, shards))]
    context = multiprocessing.get_context("fork")
    children = []
    try:
        for shard in range(1, shards):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(task, shard, shards, send), daemon=True)
            process.start()
            send.close()
            children.append((process, receive))
        results = [task(0, shards)]
        for process, receive in children:
            try:
                ok, value = receive.recv()
            except EOFError:
                process.join()
                raise AtlasError(
                    f"A site writer process ended without a result (exit code {process.exitcode})."
                ) from None
            if not ok:
                raise value  # type: ignore[misc]
            results.append(value)  # type: ignore[arg-type]
        return results
    finally:
        for process, receive in children:
            if process.is_alive():
                process.terminate()
            process.join()
            receive.close()
