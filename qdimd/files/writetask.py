"""One task of a generation run: render its masks, encode, write files, record manifest rows.

Runs in worker processes (or in-process); everything it needs travels in a hashable
:class:`WriteSpec`, and each process keeps one generator per spec (the store is opened
memory-mapped, by path). Files are written under ``.NAME.<random>.tmp`` and renamed, so a
killed task leaves only complete files; its manifest part is written last, so a part
file proves the task finished. See :mod:`qdimd.files.writer` for the run around it.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import os
import tarfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from ..buckets import border_distance, hole_ratio
from ..masks.generator import MaskConfig, MaskGenerator
from ..io import atomic_open, atomic_write_bytes
from .layout import Task, encode_png, mask_stem, shard_name, tar_member

PARTS_DIR = ".qdimd-parts"
WRITE_THREADS = 2
"""Threads per worker that encode and write PNG files."""


@dataclass(frozen=True)
class WriteSpec:
    """What a worker needs (hashable: workers cache their generator on it)."""

    out: str
    config: MaskConfig
    store_path: str
    seed: int
    n: int
    hole_value: int = 255
    layout: str = "plain"
    format: str = "png"
    shard_size: int = 10000
    resume: bool = False


def file_of(spec: WriteSpec, index: int) -> str:
    """Manifest ``file`` of mask ``index``: a file name, or ``SHARD.tar:MEMBER``."""
    name = mask_stem(index, spec.n, spec.layout, spec.config.split) + ".png"
    if spec.format == "tar":
        return f"{shard_name(index // spec.shard_size)}:{name}"
    return name


@functools.lru_cache(maxsize=1)
def _worker_generator(config: MaskConfig, store_path: str, seed: int, stamp: tuple) -> MaskGenerator:
    """One generator per process and run (opens the store memory-mapped).

    ``stamp`` (inode, size, mtime of the store file) keeps a store rebuilt under the same path
    from being served from the cache.
    """
    from ..strokes.store import StrokeStore

    return MaskGenerator(config, StrokeStore.load(store_path), seed)


def _encode_and_write(path: Path, hole: np.ndarray, hole_value: int) -> None:
    atomic_write_bytes(path, encode_png(hole, hole_value))


def run_task(spec: WriteSpec, task: Task) -> int:
    """Render, encode and write one task's masks and its manifest part; returns the mask count.

    PNG encoding and file writes run in :data:`WRITE_THREADS` threads (OpenCV and file I/O
    release the GIL) so that rendering overlaps file-system latency; on a local disk of a busy
    2-core machine we measured no difference, it pays off where each file operation is slow
    (network file systems).
    """
    stat = os.stat(spec.store_path)
    gen = _worker_generator(spec.config, spec.store_path, spec.seed, (stat.st_ino, stat.st_size, stat.st_mtime_ns))
    out = Path(spec.out)
    h, w = spec.config.size
    step = max(1, min(64, (1 << 22) // (h * w)))
    buffer = np.empty((step, h, w), dtype=bool)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    with ThreadPoolExecutor(WRITE_THREADS) as threads, _tar_writer(spec, task) as add_member:
        pending: deque = deque()
        for start in range(task.first, task.stop, step):
            params = [gen.params(i) for i in range(start, min(task.stop, start + step))]
            holes = gen.render(params, out=buffer[: len(params)])
            for p, hole in zip(params, holes):
                file = file_of(spec, p.index)
                writer.writerow([p.index, file, repr(hole_ratio(hole)), border_distance(hole),
                                 orjson.dumps(p.to_dict()).decode()])
                if add_member is not None:
                    add_member(file.split(":")[1], encode_png(hole, spec.hole_value))
                elif not (spec.resume and (out / file).exists()):
                    pending.append(threads.submit(_encode_and_write, out / file, hole.copy(), spec.hole_value))
                while len(pending) > 4 * WRITE_THREADS or (pending and pending[0].done()):
                    pending.popleft().result()  # bounded memory; re-raises write errors
        for future in pending:
            future.result()
    atomic_write_bytes(out / PARTS_DIR / task.part_name, rows.getvalue().encode())
    return task.stop - task.first


@contextlib.contextmanager
def _tar_writer(spec: WriteSpec, task: Task):
    """For tar runs, yields ``add(member, data)`` streaming into the shard's temporary file
    (renamed when complete); else yields None."""
    if spec.format != "tar":
        yield None
        return
    path = Path(spec.out) / shard_name(task.shard)
    with atomic_open(path) as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            yield lambda name, data: tar.addfile(tar_member(name, len(data)), io.BytesIO(data))
