"""A fixed bucketed test split like NVIDIA's (``qdimd bucket --out DIR``).

Writes ``per_group`` masks for each of the 6 hole-ratio buckets x 2 border
groups (12,000 with ``per_group=1000``) with :class:`qdimd.masks.targeted.TargetedGenerator`,
by default from the ``test`` half of the Quick, Draw! categories
(:func:`qdimd.strokes.splits.split_of`), so test masks never share strokes with masks
generated with ``split="train"``. Layout::

    OUT/<bucket>/<group>/<index>.png   bucket 1..6, group noborder|border, index global 00000..
    OUT/manifest.csv                   MANIFEST_COLUMNS (params rebuild each mask)
    OUT/config.json                    the resolved options
    OUT/README.md                      the bucket x group table and the options

Mask ``index`` of cell ``c`` (``c = 2 * (bucket - 1) + (group == "border")``,
``index = c * per_group + i``) is a pure function of (config, store, seed, margin,
index), so the split is reproducible and a run can be resumed: each finished
chunk leaves a manifest part in ``.qdimd-parts/``, files are written atomically,
and ``resume=True`` redoes only unfinished chunks.
"""
from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..version import __version__
from ..buckets import DEFAULT_EDGES, GROUPS, border_distance, default_margin
from ..errors import InputError
from ..masks.generator import MaskConfig
from ..io import PathLike, atomic_write_bytes, json_dumps, make_own_folder, owned_entry, temp_file_target
from ..files.layout import encode_png
from ..files.writer import map_in_workers
from .stats import format_readme, summarize

MANIFEST_COLUMNS: tuple[str, ...] = ("index", "file", "hole_ratio", "border_distance", "margin", "bucket", "group", "params")
PARTS_DIR = ".qdimd-parts"
CHUNK = 250


@dataclass(frozen=True)
class BucketSpec:
    """Everything a worker needs to write its chunks (hashable)."""

    out: str
    config: MaskConfig
    seed: int
    per_group: int
    margin: int
    edges: tuple[float, ...]
    hole_value: int
    resume: bool
    kind: str | None = None  # a qdimd.kinds spec; None = Algorithm 1 (TargetedGenerator)


@dataclass(frozen=True)
class Chunk:
    """Masks ``first .. stop - 1`` of one (bucket, group) cell."""

    bucket: int
    group: str
    first: int
    stop: int

    @property
    def part_name(self) -> str:
        return f"{self.first:08d}-{self.stop:08d}.csv"


def cells(edges: Sequence[float] = DEFAULT_EDGES) -> list[tuple[int, str]]:
    """The (bucket, group) cells in index order."""
    return [(b, g) for b in range(1, len(edges)) for g in GROUPS]


def file_of(bucket: int, group: str, index: int) -> str:
    """``<bucket>/<group>/<index:05d>.png`` relative to OUT."""
    return f"{bucket}/{group}/{index:05d}.png"


def plan_chunks(per_group: int, edges: Sequence[float] = DEFAULT_EDGES) -> list[Chunk]:
    """All chunks of a split in index order."""
    chunks = []
    for c, (bucket, group) in enumerate(cells(edges)):
        for first in range(c * per_group, (c + 1) * per_group, CHUNK):
            chunks.append(Chunk(bucket, group, first, min(first + CHUNK, (c + 1) * per_group)))
    return chunks


@functools.lru_cache(maxsize=4)
def _pool(store, split: str | None):
    """One drawing pool per (store, split), shared by the 12 generators of a process (8 bytes a drawing)."""
    from ..masks.generator import drawing_pool

    return drawing_pool(store, split)


@functools.lru_cache(maxsize=16)
def _generator(spec: BucketSpec, store, bucket: int, group: str):
    from ..masks.targeted import TargetedGenerator

    if spec.kind is not None:
        from ..kinds.targeted import KindTargetedGenerator

        return KindTargetedGenerator.for_group(spec.kind, bucket, group, spec.config, store, spec.seed, edges=spec.edges,
                                               margin=spec.margin)

    return TargetedGenerator.for_group(bucket, group, spec.config, store, spec.seed, edges=spec.edges, margin=spec.margin,
                                       pool=_pool(store, spec.config.split))


def run_chunk(spec: BucketSpec, store, chunk: Chunk) -> int:
    """Generate, verify, encode and write one chunk and its manifest part; returns the mask count."""
    gen = _generator(spec, store, chunk.bucket, chunk.group)
    out = Path(spec.out)
    (out / str(chunk.bucket) / chunk.group).mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for index in range(chunk.first, chunk.stop):
        params, hole = gen.generate_with_params(index)
        if not gen.accepts(hole):  # never happens: the generator verifies; kept as a hard guarantee
            raise RuntimeError(f"mask {index} does not satisfy bucket {chunk.bucket} / {chunk.group}")
        file = file_of(chunk.bucket, chunk.group, index)
        ratio = float(np.count_nonzero(hole)) / hole.size
        writer.writerow([index, file, repr(ratio), border_distance(hole), spec.margin, chunk.bucket, chunk.group,
                         json_dumps(params.to_dict()).decode()])
        if not (spec.resume and (out / file).exists()):
            atomic_write_bytes(out / file, encode_png(hole, spec.hole_value))
    atomic_write_bytes(out / PARTS_DIR / chunk.part_name, rows.getvalue().encode())
    return chunk.stop - chunk.first


def _init_worker() -> None:
    """Pool workers leave Ctrl-C to the parent (no tracebacks from each worker) and turn the parent's
    ``terminate()`` (SIGTERM) into an exception, so a file being written is removed, not left as a temporary."""
    import signal

    def stop(signum, frame):
        raise SystemExit(1)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop)


def remove_temporaries(folder: Path, edges: Sequence[float] = DEFAULT_EDGES) -> int:
    """Delete the temporary files (``.<name>.<hex>.tmp``) an interrupted run left in the cell folders."""
    removed = 0
    for bucket, group in cells(edges):
        cell = folder / str(bucket) / group
        if cell.is_dir() and not cell.is_symlink() and not cell.parent.is_symlink():
            for tmp in cell.glob(".*.tmp"):
                if temp_file_target(tmp.name) is not None and owned_entry(folder, tmp):
                    tmp.unlink(missing_ok=True)
                    removed += 1
    return removed


def check_cell_folders(folder: Path, edges: Sequence[float] = DEFAULT_EDGES) -> None:
    """Refuse cell folders that are symbolic links (or files): a split never writes or deletes outside ``folder``."""
    for bucket, group in cells(edges):
        for path in (folder / str(bucket), folder / str(bucket) / group):
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                raise InputError(f"{path}: a symbolic link or a file where the split's folder is; qdimd bucket never "
                                 "writes through links; remove it or use a new folder")


def _run_chunk_in_worker(args) -> int:
    spec, store, chunk = args
    return run_chunk(spec, store, chunk)


def bucket_config(spec: BucketSpec, store, sources=None) -> dict:
    """The ``config.json`` of a split: ``store`` describes the strokes by content (sizes and a fingerprint,
    :func:`qdimd.files.writer.store_description`), never by the path of a temporary store built from
    ndjson sources, and the generator config names the renderer really used."""
    from ..files.writer import store_description

    return {
        "qdimd_version": __version__, "mode": "generate", "seed": spec.seed, "per_group": spec.per_group,
        "border_margin": spec.margin, "edges": list(spec.edges), "hole_value": spec.hole_value,
        "store": store_description(store, sources),
        "config": spec.config.to_dict(), **({} if spec.kind is None else {"kind": spec.kind}),
    }


def write_bucket_set(
    out: PathLike,
    config: MaskConfig = MaskConfig(split="test"),
    store=None,
    *,
    per_group: int = 1000,
    seed: int = 0,
    margin: int | None = None,
    edges: Sequence[float] = DEFAULT_EDGES,
    hole_value: int = 255,
    workers: int = 1,
    resume: bool = False,
    kind: str | None = None,
    sources=None,
) -> Iterator[int]:
    """Write a bucketed split; yields each finished chunk's mask count (for a progress bar).

    Args:
        out: output folder (created).
        config: generator config (``split="test"`` by default for held-out strokes).
        store: stroke store; None = the bundled sample.
        per_group: masks per (bucket, group) cell.
        seed: >= 0.
        margin: border margin in px; None = ``round(50 * min(H, W) / 512)`` (25 px at 256).
        edges: bucket edges.
        hole_value: 255 (white holes) or 0.
        workers: processes (the store is re-opened memory-mapped in each).
        resume: complete an interrupted run into the same folder with the same options (a complete
            one is left as it is).
        sources: the user's stroke sources, recorded in ``config.json`` (not compared on resume).
        kind: a :mod:`qdimd.kinds` spec (e.g. ``"mat"``): each cell by the kind's own means
            (:class:`qdimd.kinds.KindTargetedGenerator`); None/``"qdimd"`` = Algorithm 1 steered.

    Raises:
        InputError: ``out`` holds a different split, or is not empty without ``resume``.

    The first value yielded is the number of masks already done (non-zero when resuming).
    The manifest, ``README.md`` and the removal of ``.qdimd-parts/`` happen once the
    iterator is exhausted.
    """
    from ..strokes.store import load_default_store

    if per_group < 1:
        raise ValueError(f"Expected per_group >= 1, got {per_group}")
    if hole_value not in (0, 255):
        raise ValueError(f"Expected hole_value 255 or 0, got {hole_value!r}")
    if workers < 1:
        raise ValueError(f"Expected workers >= 1, got {workers}")
    store = load_default_store() if store is None else store
    from dataclasses import replace

    from ..masks.render import resolve_renderer

    config = replace(config, renderer=resolve_renderer(config.renderer))  # "auto" would mix renderers on resume
    margin = default_margin(*config.size) if margin is None else int(margin)
    edges = tuple(float(e) for e in edges)
    if kind is not None:
        from ..kinds import parse_kind

        kind = None if parse_kind(kind).is_default else str(parse_kind(kind))
    spec = BucketSpec(str(out), config, int(seed), int(per_group), margin, edges, hole_value, resume, kind)
    h, w = config.size
    inner = max(0, h - 2 * margin) * max(0, w - 2 * margin) / (h * w)  # share of the image inside the margin
    for bucket, group in cells(edges):
        if group == GROUPS[0] and inner <= edges[bucket - 1]:
            raise ValueError(f"Expected a border margin that allows {group} masks of bucket {bucket} "
                             f"({edges[bucket - 1]}, {edges[bucket]}] at {h}x{w}, got margin {margin} px, which leaves "
                             f"an inner share of {inner:.3f} of the image")
    for bucket, group in cells(edges):  # validates every cell up front (cheap)
        _generator(spec, store, bucket, group)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    meta = bucket_config(spec, store, sources)
    config_path = folder / "config.json"
    if config_path.exists():
        try:
            previous = json.loads(config_path.read_text(encoding="utf-8"))
        except ValueError:
            previous = None
        if not resume:
            raise InputError(f"{out}: already holds a split (config.json); use --resume to complete it or a new folder")
        from ..files.writer import comparable_config

        found, wanted = comparable_config(previous or {}), comparable_config(meta)
        if found != wanted:
            diff = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
            raise InputError(f"{out}: holds a split made with different options (differs in: {', '.join(diff)}); "
                             "repeat the original options to resume it, or use a new folder")
    elif resume and any(folder.iterdir()):
        raise InputError(f"{out}: no config.json to resume from")
    elif any(p.name != PARTS_DIR for p in folder.iterdir()):
        raise InputError(f"{out}: not empty; choose a new or empty folder")
    chunks = plan_chunks(per_group, edges)
    total = sum(c.stop - c.first for c in chunks)
    if resume and (folder / "manifest.csv").is_file() and not (folder / PARTS_DIR).exists():
        yield total  # already complete
        return
    check_cell_folders(folder, edges)
    atomic_write_bytes(config_path, (json.dumps(meta, indent=2) + "\n").encode())
    make_own_folder(folder / PARTS_DIR)
    if resume:
        remove_temporaries(folder, edges)
    done = {p.name for p in (folder / PARTS_DIR).iterdir()} if resume else set()
    todo = [c for c in chunks if c.part_name not in done]
    yield total - sum(c.stop - c.first for c in todo)
    try:
        yield from map_in_workers(_run_chunk_in_worker, [(spec, store, c) for c in todo], workers, _init_worker)
    except BaseException:
        remove_temporaries(folder, edges)  # a signal can land between creating a temporary and its cleanup
        raise
    _finish(folder, spec, chunks, meta)


def _finish(folder: Path, spec: BucketSpec, chunks: list[Chunk], meta: dict) -> None:
    header = ",".join(MANIFEST_COLUMNS) + "\n"
    lines, ratios, buckets, groups = [], [], [], []
    for chunk in chunks:
        text = (folder / PARTS_DIR / chunk.part_name).read_text()
        lines.append(text)
        for row in csv.reader(io.StringIO(text)):
            ratios.append(float(row[2]))
            buckets.append(int(row[5]))
            groups.append(row[6])
    atomic_write_bytes(folder / "manifest.csv", (header + "".join(lines)).encode())
    table = summarize(ratios, buckets, groups, spec.edges)
    h, w = spec.config.size
    title = f"QD-IMD bucketed split: {len(ratios)} masks, {h}x{w}, seed {spec.seed}, split {spec.config.split}"
    atomic_write_bytes(folder / "README.md", format_readme(title, table, meta).encode())
    for chunk in chunks:
        (folder / PARTS_DIR / chunk.part_name).unlink(missing_ok=True)
    try:
        (folder / PARTS_DIR).rmdir()
    except OSError:
        pass
