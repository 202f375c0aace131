"""Running a command on several processes or machines under ``torchrun``.

torchrun starts one process per rank and tells each its place through the environment
variables ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``. Without them (a plain command) the
run is a world of one: nothing is initialised and every helper here is a no-op. With them,
:func:`cluster_session` joins the process group (gloo on CPU, NCCL on CUDA with the device
picked by ``LOCAL_RANK``), :func:`shard_selection` deals the selected units out to the
ranks, and :func:`barrier`, :func:`gather` and :func:`main_first` are the few points where
the ranks wait for each other. Every collective has a timeout (``ATLAS_DIST_TIMEOUT``
seconds, default one hour), so a rank that dies without torchrun noticing cannot leave the
others waiting forever.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from generator.errors import ConfigError
from generator.pipeline.select import Selection

T = TypeVar("T")
TIMEOUT_VARIABLE = "ATLAS_DIST_TIMEOUT"
DEFAULT_TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class Cluster:
    """This process's place among the ranks of a run (a world of one for a plain command)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None  # set once the process group is initialised

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def tag(self) -> str:
        """``[rank r/N]``, the prefix of this rank's log lines."""
        return f"[rank {self.rank}/{self.world}]"


SINGLE = Cluster()


def detect(environ: Mapping[str, str]) -> Cluster:
    """The cluster torchrun describes in ``environ``; a world of one without its variables."""
    if "WORLD_SIZE" not in environ or "RANK" not in environ:
        return SINGLE
    values = {name: _env_int(environ, name) for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    world, rank = values["WORLD_SIZE"], values["RANK"]
    if world < 1 or not 0 <= rank < world or values["LOCAL_RANK"] < 0:
        raise ConfigError(
            f"torchrun set WORLD_SIZE={world}, RANK={rank}, LOCAL_RANK={values['LOCAL_RANK']}, "
            "which do not describe a rank of the run."
        )
    return Cluster(rank=rank, world=world, local_rank=values["LOCAL_RANK"])


def _env_int(environ: Mapping[str, str], name: str) -> int:
    text = environ.get(name, "0")
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"The environment variable {name} must be an integer, got {text!r}.") from None


def timeout_from(environ: Mapping[str, str]) -> timedelta:
    """How long a collective may wait: ``ATLAS_DIST_TIMEOUT`` seconds, else one hour."""
    text = environ.get(TIMEOUT_VARIABLE)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"{TIMEOUT_VARIABLE} must be a positive number of seconds, got {text!r}.")
    return timedelta(seconds=seconds)


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA devices, gloo otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def rank_device(device: torch.device, cluster: Cluster) -> torch.device:
    """The device this rank runs on: a CUDA device is the rank's own (``cuda:LOCAL_RANK``)."""
    if device.type == "cuda" and cluster.distributed:
        return torch.device("cuda", cluster.local_rank)
    return device


@contextmanager
def cluster_session(device: torch.device, environ: Mapping[str, str] = os.environ) -> Iterator[Cluster]:
    """Join the process group described by ``environ`` for the duration of the block.

    A world of one initialises nothing. The group is left on normal exit only: a rank that
    fails exits with its error and torchrun stops the others.
    """
    cluster = detect(environ)
    if not cluster.distributed:
        yield cluster
        return
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(cluster.local_rank)
    dist.init_process_group(backend=backend, timeout=timeout_from(environ))
    yield Cluster(cluster.rank, cluster.world, cluster.local_rank, backend)
    dist.destroy_process_group()


def barrier(cluster: Cluster) -> None:
    """Wait until every rank gets here (nothing to wait for in a world of one)."""
    if not cluster.distributed:
        return
    if cluster.backend == "nccl":
        dist.barrier(device_ids=[cluster.local_rank])
    else:
        dist.barrier()


def gather(cluster: Cluster, value: T) -> list[T]:
    """Every rank's ``value`` (picklable), in rank order, on every rank; also a barrier."""
    if not cluster.distributed:
        return [value]
    values: list[Any] = [None] * cluster.world
    dist.all_gather_object(values, value)
    return values


def main_first(cluster: Cluster, work: Callable[[], T]) -> T:
    """Run ``work`` on rank 0, then on the other ranks: for cached work that rank 0 computes
    and writes and the others then find on disk."""
    if cluster.is_main:
        result = work()
        barrier(cluster)
        return result
    barrier(cluster)
    return work()


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Round-robin share of ``items`` for ``rank`` of ``world`` (may be empty)."""
    return list(items[rank::world])


def shard_selection(selection: Selection, rank: int, world: int) -> Selection:
    """The units of ``selection`` that ``rank`` of ``world`` works on.

    Units are dealt round-robin over the flattened (layer, unit) list, so every layer is
    spread over every rank; layers left without units are dropped (a rank may get none).
    A world of one keeps the selection as it is.
    """
    if world == 1:
        return selection
    flat = [(layer, unit) for layer, units in selection.layers for unit in units]
    mine = shard(flat, rank, world)
    layers = [(layer, tuple(u for name, u in mine if name == layer)) for layer, _ in selection.layers]
    return Selection(tuple((layer, units) for layer, units in layers if units))
