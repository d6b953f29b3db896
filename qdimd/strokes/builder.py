"""Streaming construction of a stroke store from any mix of Quick, Draw! sources.

:func:`build_store` reads files, folders and globs of ``.qds``, ``.ndjson``,
``.ndjson.gz``, ``.bin`` (binary) and ``.npz`` (sketch-rnn) one record at a
time, buffers ``chunk_drawings`` drawings, drops duplicate ``key_id``s and
appends each array to its own temporary file. Assembly then streams those files
into the final ``.qds`` (offsets cumulated chunk by chunk), written under a
temporary name and renamed at the end: an interrupted build leaves nothing
under the output name. Peak memory is a few chunks plus 8 bytes per distinct
``key_id`` (400 MB for all 50 M Quick, Draw! drawings), whatever the input size.
"""
from __future__ import annotations

import glob
import shutil
import tempfile
import weakref
from itertools import chain
from pathlib import Path
from typing import Callable, Collection, Iterator, Sequence

import numpy as np

from ..errors import InputError, ProblemLog, name_problem
from ..io import PathLike
from .store import STORE_SUFFIX, StrokeStore, check_offsets, default_store_path, iter_store_records, load_default_store, quantize
from .storefile import is_store_file, write_store_file
from .categories import check_categories, check_names
from .ndjson import MAX_POINTS, MAX_STROKES, iter_records, too_large

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
SUFFIXES = (STORE_SUFFIX, *NDJSON_SUFFIXES, ".bin", ".npz")
READ_BLOCK = 1 << 20  # rows per chunk when streaming temporary files into the store
# (word, recognized, key_id, (P, 2) uint8 points, stroke lengths)
Row = tuple


def expand_sources(sources: Sequence[PathLike], problems: ProblemLog, exclude: PathLike | None = None) -> list[Path]:
    """Files named by paths, folders (their stroke files, sorted) and globs, in the given order.

    A name that matches nothing is noted in ``problems`` (strict mode raises). ``exclude``
    (the output store) is left out of folders and globs; named explicitly, it is read.

    Raises:
        InputError: ``exclude`` is a stroke file of a folder or glob that is not a ``.qds`` store (writing
            the store there would replace an input).
    """
    skip = None if exclude is None else Path(exclude).absolute()
    if skip is not None and skip.is_file() and not is_store_source(skip):
        _refuse_input_as_output(sources, skip)
    files: list[Path] = []
    for source in sources:
        text = str(source)
        if any(c in text for c in "*?[") and not Path(text).exists():
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                problems.add(text, None, "the pattern matches no file")
            files += [Path(m) for m in matches if Path(m).is_file() and Path(m).absolute() != skip]
        elif Path(text).is_dir():
            found = sorted(p for p in Path(text).rglob("*")
                           if p.is_file() and p.name.endswith(SUFFIXES) and p.absolute() != skip)
            if not found:
                problems.add(text, None, f"folder holds no stroke files ({', '.join(SUFFIXES)})")
            files += found
        elif Path(text).is_file():
            files.append(Path(text))
        else:
            problems.add(text, None, "no such file or folder")
    return files


def _refuse_input_as_output(sources: Sequence[PathLike], out: Path) -> None:
    """Raise when ``out``, an existing file that is not a store, is one of the stroke files ``sources`` name."""
    for source in sources:
        text = str(source)
        if any(c in text for c in "*?[") and not Path(text).exists():
            named = [Path(m).absolute() for m in glob.glob(text, recursive=True)]
        elif Path(text).is_dir():
            named = [out] if out.name.endswith(SUFFIXES) and out.is_relative_to(Path(text).absolute()) else []
        else:
            named = []
        if out in named:
            raise InputError(f"-o {out} is the input stroke file of SRC {source}: the store would replace it; "
                             "choose another -o (a .qds file)")


def is_store_source(path: PathLike) -> bool:
    """Whether a source file is read as a stroke store: named ``*.qds``, or named with none of
    the other stroke suffixes and starting with the store's magic bytes."""
    name = Path(path).name
    return name.endswith(STORE_SUFFIX) or (not name.endswith(SUFFIXES) and is_store_file(path))


def iter_rows(path: Path, problems: ProblemLog, categories: Collection[str] | None,
              recognized_only: bool, seen: set[str] | None = None) -> Iterator[Row]:
    """Rows of one source file, dispatched on its suffix.

    ``seen`` (if given) collects every category word of the file, kept or filtered out.
    """
    name = path.name
    wanted = None if categories is None else frozenset(categories)
    seen = set() if seen is None else seen
    if is_store_source(path):
        try:  # structure checked; drawings over the caps are skipped below, one by one
            store = StrokeStore.load(path, validate=False)
            check_offsets(store, path, caps=False)
        except InputError as exc:
            problems.add(str(path), None, str(exc).removeprefix(f"{path.absolute()}: "))
            return
        seen.update(store.categories)
        for d, points, lengths in iter_store_records(store):
            if len(points) > MAX_POINTS or len(lengths) > MAX_STROKES:
                problems.add(str(path), d + 1, too_large(len(points), "points") if len(points) > MAX_POINTS
                             else too_large(len(lengths), "strokes"))
                continue
            word = store.categories[store.drawing_category[d]]
            recognized = bool(store.recognized[d])
            if (wanted is None or word in wanted) and (recognized or not recognized_only):
                yield word, recognized, int(store.key_ids[d]), points, lengths
        return
    if name.endswith(NDJSON_SUFFIXES):
        for r in iter_records(path, problems=problems):
            seen.add(r.word)
            if (wanted is not None and r.word not in wanted) or (recognized_only and not r.recognized):
                continue
            points = r.points.astype(np.uint8) if r.points.dtype.kind in "iu" else quantize(r.points)  # ints: 0..255 checked
            yield r.word, r.recognized, r.key_id, points, r.lengths
        return
    if (name.endswith(".bin") or name.endswith(".npz")) and name_problem(name):
        problems.add(str(path), None, "file name is not valid UTF-8, and a .bin or .npz file's category is its name: "
                                      "rename the file")
        return
    if name.endswith(".bin") or name.endswith(".npz"):
        from . import formats  # imported only when such a file comes up

        drawings = (formats.read_binary(path, problems=problems) if name.endswith(".bin")
                    else formats.read_sketchrnn(path, problems=problems))
        for d in drawings:
            seen.add(d.word)
            if (wanted is None or d.word in wanted) and (d.recognized or not recognized_only):
                yield d.word, d.recognized, d.key_id, quantize(np.concatenate(d.strokes)), [len(s) for s in d.strokes]
        return
    problems.add(str(path), None, f"unknown stroke file type (expected one of {', '.join(SUFFIXES)})")


class _KeySet:
    """Seen uint64 key_ids as sorted runs merged like a binary counter (8 bytes per key)."""

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def contains(self, keys: np.ndarray) -> np.ndarray:
        found = np.zeros(len(keys), dtype=bool)
        for run in self.runs:
            i = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            found |= run[i] == keys
        return found

    def add(self, keys: np.ndarray) -> None:
        if len(keys) == 0:
            return
        run = np.sort(keys)
        while self.runs and len(self.runs[-1]) <= len(run):
            run = np.concatenate([self.runs.pop(), run])
            run.sort(kind="stable")
        self.runs.append(run)


class _ChunkWriter:
    """Appends kept drawings to one temporary file per array."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = {n: open(folder / f"{n}.tmp", "wb") for n in ("points", "stroke_lengths", "drawing_strokes",
                                                                      "category", "key_ids", "recognized")}
        self.categories: dict[str, int] = {}
        self.counts = {"points": 0, "strokes": 0, "drawings": 0}
        self.keys = _KeySet()

    def write(self, rows: list[Row], dedupe: bool) -> int:
        """Write ``rows`` minus duplicate key_ids; returns how many were dropped."""
        if not rows:
            return 0
        keys = np.fromiter((r[2] for r in rows), dtype=np.uint64, count=len(rows))
        keep = np.ones(len(rows), dtype=bool)
        if dedupe:
            _, first = np.unique(keys, return_index=True)
            keep[:] = False
            keep[first] = True
            keep &= ~self.keys.contains(keys)
            self.keys.add(keys[keep])
        kept = [r for r, k in zip(rows, keep) if k]
        if kept:
            cats = [self.categories.setdefault(r[0], len(self.categories)) for r in kept]
            lengths = np.fromiter(chain.from_iterable(r[4] for r in kept), dtype=np.int64)
            points = np.concatenate([r[3] for r in kept])
            self._put("points", points.astype(np.uint8))
            self._put("stroke_lengths", lengths)
            self._put("drawing_strokes", np.array([len(r[4]) for r in kept], dtype=np.int64))
            self._put("category", np.array(cats, dtype=np.int64))
            self._put("key_ids", keys[keep])
            self._put("recognized", np.array([r[1] for r in kept], dtype=bool))
            self.counts["points"] += len(points)
            self.counts["strokes"] += len(lengths)
            self.counts["drawings"] += len(kept)
        return len(rows) - len(kept)

    def _put(self, name: str, array: np.ndarray) -> None:
        self.files[name].write(memoryview(np.ascontiguousarray(array)).cast("B"))

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    def _blocks(self, name: str, dtype, width: int = 1) -> Iterator[np.ndarray]:
        with open(self.folder / f"{name}.tmp", "rb") as f:
            while True:
                block = np.fromfile(f, dtype=dtype, count=READ_BLOCK * width)
                if len(block) == 0:
                    return
                yield block.reshape(-1, width) if width > 1 else block

    def _starts(self, name: str) -> Iterator[np.ndarray]:
        yield np.zeros(1, dtype=np.int64)
        total = 0
        for block in self._blocks(name, np.int64):
            out = np.cumsum(block) + total
            total = int(out[-1])
            yield out

    def assemble(self, out_path: Path) -> None:
        """Stream the temporary files into the final store (atomic rename)."""
        self.close()
        if self.counts["drawings"] == 0:
            raise InputError("no drawings to index (every source was empty, filtered out or unreadable)")
        names = sorted(self.categories)
        if len(names) > np.iinfo(np.int16).max:
            raise InputError(f"Expected at most {np.iinfo(np.int16).max} categories, got {len(names)}")
        remap = np.zeros(len(names), dtype=np.int16)
        for new, name in enumerate(names):
            remap[self.categories[name]] = new
        c = self.counts
        lengths = {"points": c["points"], "stroke_starts": c["strokes"] + 1, "drawing_starts": c["drawings"] + 1,
                   "drawing_category": c["drawings"], "key_ids": c["drawings"], "recognized": c["drawings"]}
        chunks = {
            "points": lambda: self._blocks("points", np.uint8, 2),
            "stroke_starts": lambda: self._starts("stroke_lengths"),
            "drawing_starts": lambda: self._starts("drawing_strokes"),
            "drawing_category": lambda: (remap[b] for b in self._blocks("category", np.int64)),
            "key_ids": lambda: self._blocks("key_ids", np.uint64),
            "recognized": lambda: self._blocks("recognized", bool),
        }
        write_store_file(out_path, names, lengths, chunks)


def _store_words(files: Sequence[Path]) -> set[str] | None:
    """The categories in the headers of the sources when all are readable stores, else None
    (then the words are known only once every file is read)."""
    words: set[str] = set()
    for path in files:
        if not is_store_source(path):
            return None
        try:
            words.update(StrokeStore.load(path, validate=False).categories)  # the header only
        except InputError:
            return None  # reading reports it
    return words if files else None


def build_store(sources: Sequence[PathLike], out_path: PathLike, *, problems: ProblemLog,
                categories: Collection[str] | None = None, recognized_only: bool = False,
                chunk_drawings: int = 100_000, dedupe: bool = True,
                progress: Callable[[int], None] | None = None) -> dict:
    """Stream stroke sources into one ``.qds`` store with bounded memory.

    Args:
        sources: files, folders and globs of ``.qds``/``.ndjson[.gz]``/``.bin``/``.npz``.
        out_path: the store to write (replaced atomically at the end).
        problems: collects skipped records and files (strict mode raises at the first).
        categories: keep only these words (``None`` = all). Each must be a word of the sources
            (official or not, e.g. a custom ``myshape``): checked before reading when every
            source is a store (their headers list their words), else once all are read, before
            anything is written.
        recognized_only: keep only drawings the game recognised.
        chunk_drawings: drawings buffered in memory between writes.
        dedupe: drop drawings whose ``key_id`` was already seen (the first one wins).
        progress: called with the number of drawings read since the last call.

    Returns:
        Counts: ``drawings``, ``strokes``, ``points``, ``duplicates``, ``files``.

    Raises:
        InputError: nothing to index, a category that is in no source (with close matches),
            or (strict) the first bad record or file.
    """
    if chunk_drawings < 1:
        raise ValueError(f"Expected chunk_drawings >= 1, got {chunk_drawings}")
    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise InputError(f"{out_path.parent}: output folder does not exist")
    files = expand_sources(sources, problems, exclude=out_path)
    if categories is not None:
        words = _store_words(files)
        categories = check_names(categories) if words is None else check_categories(categories, words, where="the sources")
    seen: set[str] = set()
    folder = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
    writer = None
    try:
        writer = _ChunkWriter(folder)
        rows: list[Row] = []
        duplicates = pending = 0
        for path in files:  # the output itself may be a source: it is replaced only at the end
            for row in iter_rows(path, problems, categories, recognized_only, seen):
                rows.append(row)
                pending += 1
                if len(rows) >= chunk_drawings:
                    duplicates += writer.write(rows, dedupe)
                    rows = []
                if progress is not None and pending >= 4096:
                    progress(pending)
                    pending = 0
        duplicates += writer.write(rows, dedupe)
        if progress is not None and pending:
            progress(pending)
        if categories is not None and seen:
            check_categories(categories, seen, where="the sources")
        writer.assemble(out_path)
        return {**writer.counts, "duplicates": duplicates, "files": len(files)}
    finally:
        if writer is not None:
            writer.close()
        shutil.rmtree(folder, ignore_errors=True)


def open_strokes(sources: Sequence[PathLike] | None, *, problems: ProblemLog | None = None,
                 categories: Sequence[str] | None = None, recognized_only: bool = False,
                 progress: Callable[[int], None] | None = None) -> StrokeStore:
    """A store from whatever the user named.

    Args:
        sources: ``None``/empty -> the bundled store; one ``.qds`` file (and no filters) -> loaded
            as is; otherwise any mix of ``.qds``/``.ndjson[.gz]``/``.bin``/``.npz`` files, folders
            and globs, streamed into a temporary store (memory-bounded, see :func:`qdimd.strokes.builder.build_store`).
        problems: collects skipped records (default: a fresh non-strict log).
        categories: keep only these categories.
        recognized_only: keep only recognised drawings.
        progress: called with the number of drawings read, while sources are streamed into a store.

    Raises:
        InputError: nothing readable, or (strict) the first bad record.
    """
    problems = ProblemLog() if problems is None else problems
    filtered = categories is not None or recognized_only
    if not sources and not filtered:
        return load_default_store()
    sources = [default_store_path()] if not sources else list(sources)
    if len(sources) == 1 and not filtered and Path(sources[0]).is_file() and is_store_source(sources[0]):
        return StrokeStore.load(sources[0])
    folder = Path(tempfile.mkdtemp(prefix="qdimd-strokes-"))
    out = folder / f"strokes{STORE_SUFFIX}"
    build_store(sources, out, problems=problems, categories=categories, recognized_only=recognized_only,
                progress=progress)
    store = StrokeStore.load(out)
    weakref.finalize(store, shutil.rmtree, folder, True)
    return store
