"""Devices and multi-process training (``torchrun``): process group set-up and teardown.

``torchrun --nproc-per-node G [--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:PORT] "$(which inpaint)" train ...``
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR/PORT``; this
module reads them. NCCL on CUDA, gloo otherwise (the CPU test path). Under
torchrun a process group is made even for one process (``--nproc-per-node 1``
takes the same NCCL path as eight). Every collective, barriers included, waits
at most ``timeout`` seconds (``inpaint train --dist-timeout``, default
:data:`DEFAULT_DIST_TIMEOUT`) before the run fails; NCCL's own default is 10 minutes.

Work that one process would otherwise do while the others wait is shared
(:class:`Share`): the photo header scans are split over the processes and
gathered, and validation scores each process's share of the pairs.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, TypeVar

import torch
import torch.distributed as dist

from ..device import resolve_device  # noqa: F401 (re-exported: the loop and older imports use it here)

DEFAULT_DIST_TIMEOUT = 3600.0
"""Seconds a collective may wait for the slowest process (``--dist-timeout``): a checkpoint write, a
validation or a first-epoch page cache miss on one rank must not kill the run."""

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False   # started by torchrun (WORLD_SIZE set): a process group even for one process

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether the run has a process group (several processes, or torchrun's single one)."""
        return self.world_size > 1 or self.launched


def env_dist_info() -> DistInfo:
    """The torchrun environment (``launched`` when ``WORLD_SIZE`` is set), or a single plain process."""
    if "WORLD_SIZE" not in os.environ:
        return DistInfo()
    return DistInfo(int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")),
                    launched=True)


def init_process_group(info: DistInfo, device: torch.device, timeout: float = DEFAULT_DIST_TIMEOUT) -> None:
    """Join the process group of a torchrun or multi-process run (no-op for one plain process).

    Args:
        timeout: seconds any collective (barriers included) may wait before the run fails.
    """
    if info.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, rank=info.rank, world_size=info.world_size,
                                timeout=timedelta(seconds=float(timeout)))


def destroy_process_group() -> None:
    """Leave the process group if one is active."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class Share:
    """Work split over the processes of a run and its results gathered (all local without a process group).

    Args:
        info: this process's place in the run.
    """

    def __init__(self, info: DistInfo):
        self.active = info.distributed and dist.is_available() and dist.is_initialized()
        self.rank, self.world_size = (dist.get_rank(), dist.get_world_size()) if self.active else (0, 1)
        self.is_main = self.rank == 0

    def from_main(self, make: Callable[[], T]) -> T:
        """``make()`` in the main process, its (picklable) value handed to every process."""
        box = [make() if self.is_main else None]
        if self.active:
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def part(self, items: list) -> list:
        """This process's share of ``items`` (every ``world_size``-th from ``rank``)."""
        return list(items)[self.rank :: self.world_size]

    def gather(self, items: list) -> list:
        """Every process's ``items`` concatenated, in rank order (the same list in every process)."""
        if not self.active:
            return list(items)
        parts: list = [None] * self.world_size
        dist.all_gather_object(parts, list(items))
        return [x for part in parts for x in part]


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of scalar logs over processes (identity for one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


@contextmanager
def main_first(info: DistInfo, *, per_node: bool = False):
    """Run the block in the main process first, then in the others (which wait at a barrier).

    For work whose result the others reuse: a download into the hub cache, a scan
    cached in the run folder. ``per_node``: local rank 0 of every machine goes first
    (a cache that is not shared between machines). If the first process fails, the
    others are released and run the block themselves (and fail the same way).
    """
    first = info.local_rank == 0 if per_node else info.is_main
    active = info.distributed and dist.is_available() and dist.is_initialized()
    if active and not first:
        dist.barrier()
    try:
        yield
    finally:
        if active and first:
            dist.barrier()
