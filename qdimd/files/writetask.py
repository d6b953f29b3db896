"""One task of a generation run: render its masks, encode, write files, record manifest rows.

Runs in worker processes (or in-process); everything it needs travels in a hashable
:class:`WriteSpec`, and each process keeps one generator per spec (the store is opened
memory-mapped, by path). Each file appears whole or not at all (:class:`FolderWriter`), so a
killed task leaves only complete files; its manifest part is written last, so a part
file proves the task finished. See :mod:`qdimd.files.writer` for the run around it.

The file path, per mask (measured in ``benchmarks/bench_generate.py``): the main thread
renders a batch into a reused buffer, measures each mask and turns it into its PNG
scanlines (:func:`qdimd.files.layout.png_rows`, the only copy); :data:`WRITE_THREADS` writer
threads per process take whole batches, deflates each mask (ISA-L releases the GIL) and writes it
with bare ``os`` calls (:class:`FolderWriter`), so deflating and file-system latency overlap rendering, and the
hand-off costs one queue operation per batch rather than one per mask.
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

from ..buckets import border_distance
from ..io import atomic_open, atomic_write_bytes, json_dumps
from ..masks.generator import MaskConfig, MaskGenerator
from .layout import Task, encode_png_rows, mask_stem, png_rows, shard_name, tar_member

PARTS_DIR = ".qdimd-parts"
WRITE_THREADS = 2
"""Writer threads per process: two keep a loaded disk's latency off the critical path (one left the
renderer waiting on it; three measured no better)."""
IN_FLIGHT = 2 * WRITE_THREADS
"""Batches handed to the writers and not yet written (bounds memory; write errors surface within these)."""


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
    png_bits: int = 8
    kind: str | None = None  # a qdimd.kinds spec (canonical text); None = Algorithm 1


def file_of(spec: WriteSpec, index: int) -> str:
    """Manifest ``file`` of mask ``index``: a file name, or ``SHARD.tar:MEMBER``."""
    name = mask_stem(index, spec.n, spec.layout, spec.config.split) + ".png"
    if spec.format == "tar":
        return f"{shard_name(index // spec.shard_size)}:{name}"
    return name


@functools.lru_cache(maxsize=1)
def _worker_generator(config: MaskConfig, store_path: str, seed: int, stamp: tuple, kind: str | None = None) -> MaskGenerator:
    """One generator per process and run (opens the store memory-mapped).

    ``stamp`` (inode, size, mtime of the store file) keeps a store rebuilt under the same path
    from being served from the cache.
    """
    from ..strokes.store import StrokeStore

    if kind is not None:  # a KindGenerator (qdimd.kinds), with MaskGenerator's params/render API
        from ..kinds.generator import create_generator

        return create_generator(config, StrokeStore.load(store_path, False), seed, kind)
    return MaskGenerator(config, StrokeStore.load(store_path, False), seed)  # validated by the parent


_O_TMPFILE = getattr(os, "O_TMPFILE", 0)


class FolderWriter:
    """Writes whole files into one folder: each appears complete under its name, or not at all.

    On Linux each file is written unnamed (``O_TMPFILE``) and then linked under its name: one
    directory operation per file, taken without holding the folder's lock while the inode is
    allocated, and a killed process leaves nothing behind. Where that is missing (other systems,
    file systems without ``O_TMPFILE``, no ``/proc``) it falls back to :func:`qdimd.io.atomic_write_bytes`
    (``.NAME.<random>.tmp`` and a rename; a kill may leave the temporary file, which a resume
    deletes). Measured in ``benchmarks/bench_generate.py`` and ``docs/benchmarks.md``.
    """

    def __init__(self, folder: str):
        self.folder = folder
        self.unnamed = bool(_O_TMPFILE) and os.path.isdir("/proc/self/fd")
        self._dir = os.open(folder, os.O_RDONLY) if self.unnamed else None

    def write(self, name: str, data: bytes) -> None:
        """Write ``data`` as ``folder/name`` (replacing a file of that name)."""
        if self.unnamed:
            try:
                fd = os.open(self.folder, _O_TMPFILE | os.O_WRONLY, 0o666)
            except OSError:  # EOPNOTSUPP, EISDIR (a kernel without it), ...: rename from now on
                self.unnamed = False
            else:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=self._dir)  # linkat, following the fd's link
                    return
                except FileExistsError:
                    pass  # replaced below, atomically
                except OSError:
                    self.unnamed = False
                finally:
                    os.close(fd)
        atomic_write_bytes(os.path.join(self.folder, name), data)

    def close(self) -> None:
        if self._dir is not None:
            os.close(self._dir)
            self._dir = None


def _write_batch(spec: WriteSpec, writer: FolderWriter, batch: list[tuple[str, np.ndarray]]) -> None:
    for name, payload in batch:
        if spec.resume and os.path.exists(os.path.join(spec.out, name)):
            continue  # a finished file of an interrupted task (pure function of the index: same bytes)
        writer.write(name, encode_png_rows(payload, spec.config.size[1], spec.png_bits))


def run_task(spec: WriteSpec, task: Task) -> int:
    """Render, encode and write one task's masks and its manifest part; returns the mask count."""
    stat = os.stat(spec.store_path)
    gen = _worker_generator(spec.config, spec.store_path, spec.seed, (stat.st_ino, stat.st_size, stat.st_mtime_ns), spec.kind)
    h, w = spec.config.size
    step = max(1, min(64, (1 << 22) // (h * w)))
    buffer = np.empty((step, h, w), dtype=bool)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    size = float(h * w)
    with _sink(spec, task) as put:
        for start in range(task.first, task.stop, step):
            count = min(task.stop, start + step) - start
            params, holes = gen.sample_batch(start, count, out=buffer[:count])
            batch = []
            for p, hole in zip(params, holes):
                file = file_of(spec, p.index)
                writer.writerow([p.index, file, repr(int(np.count_nonzero(hole)) / size), border_distance(hole),
                                 json_dumps(p.to_dict()).decode()])
                batch.append((file, png_rows(hole, spec.hole_value, spec.png_bits)))
            put(batch)
    atomic_write_bytes(Path(spec.out) / PARTS_DIR / task.part_name, rows.getvalue().encode())
    return task.stop - task.first


@contextlib.contextmanager
def _sink(spec: WriteSpec, task: Task):
    """Yields ``put(batch)``, ``batch`` a list of ``(file, payload)``: for tar runs each member is
    streamed into the shard's temporary file (renamed when complete); for PNG files the writer
    threads write them (at most :data:`IN_FLIGHT` batches queued; its errors re-raised here)."""
    if spec.format == "tar":
        path = Path(spec.out) / shard_name(task.shard)
        with atomic_open(path) as f, tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            def add(batch):
                for file, payload in batch:
                    data = encode_png_rows(payload, spec.config.size[1], spec.png_bits)
                    tar.addfile(tar_member(file.split(":")[1], len(data)), io.BytesIO(data))

            yield add
        return
    writer = FolderWriter(spec.out)
    pending: deque = deque()
    with contextlib.closing(writer), ThreadPoolExecutor(WRITE_THREADS) as thread:
        def put(batch):
            pending.append(thread.submit(_write_batch, spec, writer, batch))
            while pending and (len(pending) > IN_FLIGHT or pending[0].done()):
                pending.popleft().result()

        try:
            yield put
            while pending:
                pending.popleft().result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
