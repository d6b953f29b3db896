"""Devices and multi-process training (``torchrun``): process group set-up and teardown.

``torchrun --nproc-per-node G [--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:PORT] "$(which inpaint)" train ...``
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR/PORT``; this
module reads them. NCCL on CUDA, gloo otherwise (the CPU test path).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import resolve_device  # noqa: F401 (re-exported: the loop and older imports use it here)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """The torchrun environment, or a single process when absent."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_process_group(info: DistInfo, device: torch.device) -> None:
    """Join the process group of a multi-process run (no-op for one process)."""
    if info.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, rank=info.rank, world_size=info.world_size)


def destroy_process_group() -> None:
    """Leave the process group if one is active."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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
