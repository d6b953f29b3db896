"""Write N masks to a folder: parallel, atomic, resumable, shardable.

A run writes ``config.json`` first (the resolved config, qdimd version, seed,
store description), then its tasks (contiguous index chunks, or tar shards; see
:mod:`qdimd.files.layout`) in parallel worker processes, each mask file appearing whole or
not at all (:class:`qdimd.files.writetask.FolderWriter`), and each finished task's manifest rows to a part
file in ``.qdimd-parts/``. When all tasks are done the parts are merged into
``manifest.csv`` (``manifest-K-of-N.csv`` for part K of N, so that parts may share
a folder). An interrupted run therefore leaves only complete files, and a
resumed run redoes only tasks without a manifest part or with a missing file;
since every mask is a pure function of (config, store, seed, index), the result
is byte for byte that of an uninterrupted run.

Manifest columns: ``index, file, hole_ratio, border_distance, params`` (params =
:meth:`qdimd.masks.generator.MaskParams.to_dict` as JSON); ``file`` is relative to the
folder, ``shard-000000.tar:MEMBER`` for tar shards.
"""
from __future__ import annotations

import functools
import os
import tempfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..masks.generator import MaskConfig
from .layout import FORMATS, LAYOUTS, Task, check_png_bits, part_range, plan_tasks
from ..io import JSONDecodeError, atomic_write_bytes, json_dumps, json_loads, make_own_folder
from .writetask import PARTS_DIR, WriteSpec, _worker_generator, file_of, run_task

MANIFEST_COLUMNS: tuple[str, ...] = ("index", "file", "hole_ratio", "border_distance", "params")
CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class Run:
    """A prepared run: the part's index range and the tasks still to do."""

    spec: WriteSpec
    part: tuple[int, int] | None
    first: int
    stop: int
    tasks: tuple[Task, ...]
    manifest: Path

    @property
    def total(self) -> int:
        return self.stop - self.first

    @property
    def todo(self) -> int:
        return sum(t.stop - t.first for t in self.tasks)


def store_description(store, sources) -> dict:
    """Sizes and a fingerprint of the store (CRC-32 of the first and last MiB of its arrays)."""
    crc = 0
    for name in ("points", "stroke_starts", "drawing_starts"):
        data = np.asarray(getattr(store, name)).reshape(-1).view(np.uint8)
        crc = zlib.crc32(data[-(1 << 20):].tobytes(), zlib.crc32(data[: 1 << 20].tobytes(), crc))
    return {"sources": [str(s) for s in sources] if sources else "bundled", "n_drawings": int(store.n_drawings),
            "n_strokes": int(store.n_strokes), "n_points": int(store.n_points),
            "n_categories": len(store.categories), "fingerprint": f"{crc:08x}"}


def run_config(spec: WriteSpec, store_info: dict) -> dict:
    """The ``config.json`` content (identical for every part of a sharded run)."""
    from ..version import __version__

    return {"qdimd_version": __version__, "n": spec.n, "seed": spec.seed, "hole_value": spec.hole_value,
            "png_bits": spec.png_bits, "layout": spec.layout, "format": spec.format,
            "shard_size": spec.shard_size if spec.format == "tar" else None,
            "mask_config": spec.config.to_dict(), "store": store_info, **({} if spec.kind is None else {"kind": spec.kind})}


def comparable_config(config: dict) -> dict:
    """A ``config.json`` without what may change between a run and its resume (the spelling of the stroke sources)."""
    config = dict(config)
    if isinstance(config.get("store"), dict):
        config["store"] = {k: v for k, v in config["store"].items() if k != "sources"}
    return config


def prepare_run(out, config: MaskConfig, store, *, n: int, seed: int = 0, hole_value: int = 255,
                layout: str = "plain", fmt: str = "png", shard_size: int = 10000,
                part: tuple[int, int] | None = None, resume: bool = False, sources=None, png_bits: int = 8,
                kind: str | None = None) -> Run:
    """Check the options and the folder, write ``config.json`` and plan the remaining tasks.

    Nothing is written before the run is known to start: every option is checked, and the
    generator the workers will use is built and samples the part's first mask (an empty
    drawing pool, e.g. ``split="test"`` on a store without test categories, fails here).

    Args:
        out: output folder (created).
        config, store, seed: what to generate; ``store`` must be file-backed (``store.path``).
        n: masks in the whole run (all parts).
        hole_value: pixel value of holes (255 white, 0 black).
        png_bits: 8 (8-bit PNGs) or 1 (1-bit); see :mod:`qdimd.files.layout`.
        layout, fmt, shard_size: see :mod:`qdimd.files.layout`.
        part: ``(K, N)`` to write only part K of N.
        resume: skip tasks already complete (manifest rows known and every file there); without it,
            a folder that already holds any output of this part is refused.
        sources: the user's stroke sources, recorded in ``config.json``.
        kind: a :mod:`qdimd.kinds` spec (e.g. ``"lama-thick"``, ``"mat:0.5,qdimd:0.5"``); None/``"qdimd"`` =
            Algorithm 1. Recorded in ``config.json`` (only when set) and in every manifest row.

    Raises:
        InputError: the folder holds something else (another config, foreign files), or a
            finished run without ``resume``.
        ValueError: bad options.
    """
    if n < 1:
        raise ValueError(f"Expected n >= 1, got {n}")
    if hole_value not in (0, 255):
        raise ValueError(f"Expected hole_value 255 or 0, got {hole_value!r}")
    if layout not in LAYOUTS or fmt not in FORMATS:
        raise ValueError(f"Expected layout in {LAYOUTS} and format in {FORMATS}, got {layout!r}, {fmt!r}")
    if shard_size < 1:
        raise ValueError(f"Expected shard_size >= 1, got {shard_size}")
    check_png_bits(png_bits)
    if part is not None:
        part_range(1, part)  # checks K/N
    if getattr(store, "path", None) is None:
        raise ValueError("Expected a file-backed stroke store (StrokeStore.load / open_strokes), got an in-memory one")
    from ..masks.render import resolve_renderer

    # config.json names the renderer really used ("auto" may mean cairo on one machine and OpenCV on another),
    # so a resume or a replay where it is missing fails instead of mixing masks of two renderers.
    config = replace(config, renderer=resolve_renderer(config.renderer))
    out = Path(out)
    if kind is not None:  # a qdimd.kinds spec; plain "qdimd" keeps the run (and its config.json) as before
        from ..kinds import parse_kind

        kind = None if parse_kind(kind).is_default else str(parse_kind(kind))
    spec = WriteSpec(str(out.absolute()), config, str(store.path), int(seed), int(n), int(hole_value), layout, fmt,
                     int(shard_size), png_bits=int(png_bits), kind=kind)
    (first, stop), tasks = plan_tasks(spec.n, fmt, spec.shard_size, part)
    stat = os.stat(spec.store_path)  # the generator of an in-process run, cached for it (qdimd.files.writetask)
    _worker_generator(config, spec.store_path, spec.seed, (stat.st_ino, stat.st_size, stat.st_mtime_ns), spec.kind).params(
        min(first, n - 1))
    wanted = run_config(spec, store_description(store, sources))
    config_path = out / CONFIG_NAME
    if config_path.is_file():
        try:
            found = json_loads(config_path.read_bytes())
        except JSONDecodeError as exc:
            raise InputError(f"{config_path}: not a qdimd config ({exc}); choose another --out") from None
        found, expected = comparable_config(found), comparable_config(wanted)
        if found != expected:
            diff = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
            raise InputError(f"{out} holds a run with a different configuration (differs in: {', '.join(diff)}); "
                             "choose another --out, or repeat the original options to --resume it")
    elif out.exists() and any(not p.name.endswith(".tmp") and p.name != PARTS_DIR for p in out.iterdir()):
        raise InputError(f"{out} is not empty and holds no qdimd run ({CONFIG_NAME} missing); choose an empty or new --out")
    out.mkdir(parents=True, exist_ok=True)
    make_own_folder(out / PARTS_DIR)
    if not config_path.is_file():
        atomic_write_bytes(config_path, json_dumps(wanted, indent=True, sort_keys=True) + b"\n")
    manifest = out / ("manifest.csv" if part is None else f"manifest-{part[0]}-of-{part[1]}.csv")
    names, files, parts = _remove_run_temp_files(out, spec, tasks, manifest)
    if not resume and (manifest.name in files or names & files):
        raise InputError(f"{out} already holds masks of this run; pass --resume to complete it "
                         "(finished masks are kept), or choose another --out")
    if resume:
        done_rows = {i for i, _ in _manifest_lines(manifest)} if manifest.is_file() else set()
        tasks = [t for t in tasks if not _task_done(spec, t, files, parts, done_rows)]
        spec = replace(spec, resume=True)
    return Run(spec, part, first, stop, tuple(tasks), manifest)


def _task_done(spec: WriteSpec, task: Task, files: set, parts: set, done_rows: set) -> bool:
    if task.part_name not in parts and not all(i in done_rows for i in range(task.first, task.stop)):
        return False
    names = {file_of(spec, i).split(":")[0] for i in range(task.first, task.stop)}
    return names <= files


def _remove_run_temp_files(out: Path, spec: WriteSpec, tasks, manifest: Path) -> tuple[set, set, set]:
    """Delete the temporary files an interrupted run left for ``tasks`` (masks or shards, parts, manifest);
    returns the tasks' file names, the folder's entries and the parts folder's entries."""
    names = {file_of(spec, i).split(":")[0] for t in tasks for i in range(t.first, t.stop)}
    files = set(os.listdir(out))
    _remove_temp_files(out, files, names | {CONFIG_NAME, manifest.name})
    parts = set(os.listdir(out / PARTS_DIR))
    _remove_temp_files(out / PARTS_DIR, parts, {t.part_name for t in tasks})
    return names, files, parts


def _remove_temp_files(out: Path, files: set, names: set) -> None:
    """Delete temporary files (``.NAME.*.tmp``) that an interrupted run left for ``names``."""
    for entry in files:
        if entry.startswith(".") and entry.endswith(".tmp") and entry[1:].split(".tmp")[0].rsplit(".", 1)[0] in names:
            (out / entry).unlink(missing_ok=True)


def _manifest_lines(path: Path, header: bool = True) -> Iterator[tuple[int, str]]:
    """``(index, line)`` of each row of a manifest (or, ``header=False``, of a task part); ``line`` keeps its newline."""
    with open(path, newline="") as f:
        if header:
            next(f, None)
        for line in f:
            yield int(line.split(",", 1)[0]), line


def execute(run: Run, workers: int = 1) -> Iterator[int]:
    """Run the remaining tasks; yields each finished task's mask count, then merges the manifest.

    The manifest is complete only once the iterator is exhausted. With ``workers > 1`` tasks
    run in a pool of spawned processes (each opens the store memory-mapped); on an interrupt or an
    error the temporary files of the terminated workers are removed.
    """
    if workers < 1:
        raise ValueError(f"Expected workers >= 1, got {workers}")
    try:
        yield from map_in_workers(functools.partial(run_task, run.spec), run.tasks, workers, _ignore_sigint)
    except BaseException:  # workers terminated mid-file (Ctrl-C, an error) leave their temporary files
        _remove_run_temp_files(Path(run.spec.out), run.spec, run.tasks, run.manifest)
        raise
    merge_manifest(run)


def map_in_workers(fn, items, workers: int, initializer=None) -> Iterator:
    """``fn`` of each item: here for one worker or one item, else in a pool of spawned processes
    (results in completion order).

    After the last result the workers exit on their own (``close``, ``join``: the ``terminate()`` of
    ``Pool.__exit__`` once hung on a worker blocked on the task queue's lock); on an error or an
    interrupt they are terminated.
    """
    items = list(items)
    if workers == 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(min(workers, len(items)), initializer=initializer)
    try:
        yield from pool.imap_unordered(fn, items)
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which terminates the pool (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def merge_manifest(run: Run) -> None:
    """Write the part's manifest from the task parts (and an earlier manifest), then drop the parts."""
    out = Path(run.spec.out)
    parts_dir = out / PARTS_DIR
    rows: dict[int, str] = {}
    if run.manifest.is_file():
        rows.update(_manifest_lines(run.manifest))
    _, all_tasks = plan_tasks(run.spec.n, run.spec.format, run.spec.shard_size, run.part)
    for task in all_tasks:
        path = parts_dir / task.part_name
        if path.is_file():
            rows.update(_manifest_lines(path, header=False))
    missing = [i for i in range(run.first, run.stop) if i not in rows]
    if missing:
        raise InputError(f"{out}: manifest rows missing for {len(missing)} masks (first {missing[0]}); run again with --resume")
    header = ",".join(MANIFEST_COLUMNS) + "\n"
    atomic_write_bytes(run.manifest, (header + "".join(rows[i] for i in range(run.first, run.stop))).encode())
    for task in all_tasks:
        (parts_dir / task.part_name).unlink(missing_ok=True)
    try:
        parts_dir.rmdir()
    except OSError:
        pass  # other parts of a sharded run still use it


def write_masks(out, config: MaskConfig = MaskConfig(), store=None, *, n: int, seed: int = 0, workers: int = 1,
                resume: bool = False, **options) -> Run:
    """Generate ``n`` masks into ``out`` (library entry point without a progress bar).

    Args:
        store: a stroke store; None = the bundled sample; an in-memory store is saved to a temporary file.
        options: ``hole_value``, ``layout``, ``fmt``, ``shard_size``, ``part``, ``sources`` of :func:`prepare_run`.

    Returns:
        The run (its ``manifest`` path and range).
    """
    from ..strokes.store import StrokeStore, load_default_store

    store = load_default_store() if store is None else store
    with tempfile.TemporaryDirectory(prefix="qdimd-store-") as tmp:
        if getattr(store, "path", None) is None:
            store.save(Path(tmp) / "strokes.qds")
            store = StrokeStore.load(Path(tmp) / "strokes.qds")
        run = prepare_run(out, config, store, n=n, seed=seed, resume=resume, **options)
        for _ in execute(run, workers):
            pass
    return replace(run, tasks=())


__all__ = ["MANIFEST_COLUMNS", "Run", "WriteSpec", "comparable_config", "execute", "file_of", "map_in_workers", "merge_manifest", "prepare_run", "run_task",
           "write_masks"]
