"""How generated masks are laid out on disk: file names, PNG bytes, parts, tar shards.

Layouts (``--layout``):

* ``plain``: ``00000000.png``, ``00000001.png``, ... by global index (8 digits, wider if needed).
* ``qdimd``: the original QD-IMD names ``00001_train.png``, ... (5 digits, numbered from 1;
  the suffix is the split, ``train`` when none is chosen).

Formats (``--format``): ``png`` writes one single-channel 8-bit PNG per mask; ``tar``
writes WebDataset-style shards ``shard-000000.tar`` of ``shard_size`` masks each, whose
members ``<stem>.png`` hold the same PNG bytes as the folder layout (tar headers are
fixed: mtime 0, uid/gid 0, mode 0644, so shards are byte-for-byte reproducible).

Parts (``--shard K/N``): the run's *units* (masks for ``png``, tar shards for ``tar``)
are cut into N contiguous, disjoint ranges; part K (1-based) holds units
``floor((K - 1) * U / N) .. floor(K * U / N) - 1``. Every mask keeps its global index,
so the union of the N parts is exactly the unsharded run.
"""
from __future__ import annotations

import tarfile
from dataclasses import dataclass

import cv2
import numpy as np

from ..io import hole_to_gray

LAYOUTS: tuple[str, ...] = ("plain", "qdimd")
FORMATS: tuple[str, ...] = ("png", "tar")
CHUNK = 500
"""Masks per work item in the ``png`` format (fixed, so resumed runs see the same chunks)."""
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
"""Run-length deflate without row filters: the fastest encoding we measured, and ~1.3 KB per 256x256 mask."""


@dataclass(frozen=True)
class Task:
    """One unit of work: global indices ``first .. stop - 1``, written as files or as tar ``shard``."""

    first: int
    stop: int
    shard: int | None = None

    @property
    def part_name(self) -> str:
        """File name of its manifest part."""
        return f"{self.first:012d}-{self.stop:012d}.csv"


def mask_stem(index: int, n: int, layout: str, split: str | None) -> str:
    """File stem of mask ``index`` of a run of ``n`` masks."""
    if layout == "plain":
        return f"{index:0{max(8, len(str(n - 1)))}d}"
    if layout == "qdimd":
        return f"{index + 1:0{max(5, len(str(n)))}d}_{split or 'train'}"
    raise ValueError(f"Expected layout in {LAYOUTS}, got {layout!r}")


def shard_name(shard: int) -> str:
    """``shard-000000.tar`` for shard 0."""
    return f"shard-{shard:06d}.tar"


def encode_png(hole: np.ndarray, hole_value: int) -> bytes:
    """``(H, W)`` bool hole mask to single-channel 8-bit PNG bytes, holes at ``hole_value``."""
    ok, data = cv2.imencode(".png", hole_to_gray(hole, hole_value), PNG_PARAMS)
    if not ok:  # pragma: no cover - OpenCV only fails on invalid arrays
        raise RuntimeError("OpenCV could not encode a PNG")
    return data.tobytes()


def tar_member(name: str, size: int) -> tarfile.TarInfo:
    """A reproducible tar header: mtime 0, uid/gid 0, no user names, mode 0644."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def part_range(units: int, part: tuple[int, int] | None) -> tuple[int, int]:
    """Units ``lo .. hi - 1`` of part ``(K, N)`` (1-based K), or all of them."""
    if part is None:
        return 0, units
    k, n = part
    if not 1 <= k <= n:
        raise ValueError(f"Expected a part K/N with 1 <= K <= N, got {k}/{n}")
    return (k - 1) * units // n, k * units // n


def plan_tasks(n: int, fmt: str, shard_size: int, part: tuple[int, int] | None) -> tuple[tuple[int, int], list[Task]]:
    """The index range of this part and its tasks.

    Returns:
        ``((first, stop), tasks)``: the global indices of the part and its work items in order.
    """
    if fmt == "tar":
        lo, hi = part_range(-(-n // shard_size), part)
        tasks = [Task(s * shard_size, min(n, (s + 1) * shard_size), s) for s in range(lo, hi)]
        return (lo * shard_size, min(n, hi * shard_size)), tasks
    if fmt != "png":
        raise ValueError(f"Expected format in {FORMATS}, got {fmt!r}")
    lo, hi = part_range(n, part)
    starts = [lo] + list(range((lo // CHUNK + 1) * CHUNK, hi, CHUNK))
    return (lo, hi), [Task(a, min(b, hi)) for a, b in zip(starts, starts[1:] + [hi]) if a < hi]
