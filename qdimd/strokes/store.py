"""The stroke store: every point of every stroke in flat arrays, one memory-mapped file.

The file format (``.qds``) is in :mod:`qdimd.strokes.storefile`. Opening reads only the
header and maps the file (``np.memmap``), so it is O(1) in the store's size; generation touches only the pages of the strokes it
samples, and processes that open the same file share its pages in the OS cache
(a pickled file-backed store re-opens the file instead of copying arrays).
Points are uint8 (2 bytes per point: Quick, Draw! simplified space is 0..255).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..io import PathLike
from .categories import check_categories
from .splits import check_split, split_of
from .storefile import ARRAYS, read_header, write_store_file
from .ndjson import MAX_POINTS, MAX_STROKES, Drawing

STORE_SUFFIX = ".qds"
DEFAULT_STORE = "quickdraw_sample.qds"


@dataclass(frozen=True, eq=False)
class StrokeStore:
    """Quick, Draw! strokes in flat arrays (immutable; memory-mapped when loaded from a file).

    Attributes:
        points: ``(P, 2)`` uint8 x, y in 0..255.
        stroke_starts: ``(S + 1,)`` int64; stroke ``s`` is ``points[stroke_starts[s]:stroke_starts[s + 1]]``.
        drawing_starts: ``(D + 1,)`` int64; drawing ``d`` owns strokes ``drawing_starts[d]:drawing_starts[d + 1]``.
        drawing_category: ``(D,)`` int16 index into ``categories``.
        key_ids: ``(D,)`` uint64 Quick, Draw! ids.
        recognized: ``(D,)`` bool.
        categories: category names (sorted).
        path: the file it was loaded from, if any.
    """

    points: np.ndarray
    stroke_starts: np.ndarray
    drawing_starts: np.ndarray
    drawing_category: np.ndarray
    key_ids: np.ndarray
    recognized: np.ndarray
    categories: tuple[str, ...]
    path: Path | None = None

    @property
    def n_drawings(self) -> int:
        return len(self.drawing_starts) - 1

    @property
    def n_strokes(self) -> int:
        return len(self.stroke_starts) - 1

    @property
    def n_points(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return (f"StrokeStore(n_drawings={self.n_drawings}, n_strokes={self.n_strokes}, "
                f"n_points={self.n_points}, n_categories={len(self.categories)}{where})")

    def __reduce__(self):
        # A file-backed store travels to worker processes as its path (no copy of the arrays).
        if self.path is not None:
            return (StrokeStore.load, (self.path, False))
        return (StrokeStore, tuple(np.asarray(getattr(self, n)) for n in ARRAYS) + (self.categories,))

    def stroke(self, s: int) -> np.ndarray:
        """Stroke ``s`` as an ``(n, 2)`` uint8 view (``n >= 1``)."""
        if not 0 <= s < len(self.stroke_starts) - 1:
            raise IndexError(f"Expected a stroke id in 0..{self.n_strokes - 1}, got {s}")
        return self.points[self.stroke_starts[s]:self.stroke_starts[s + 1]]

    def drawing_strokes(self, d: int) -> range:
        """Global ids of the strokes of drawing ``d``."""
        return range(int(self.drawing_starts[d]), int(self.drawing_starts[d + 1]))

    def drawing(self, d: int) -> Drawing:
        """Drawing ``d`` as a :class:`~qdimd.strokes.ndjson.Drawing` (country and time are not stored: empty)."""
        if not 0 <= d < self.n_drawings:
            raise IndexError(f"Expected a drawing id in 0..{self.n_drawings - 1}, got {d}")
        strokes = tuple(self.stroke(s).astype(np.float64) for s in self.drawing_strokes(d))
        return Drawing(self.categories[self.drawing_category[d]], "", "", bool(self.recognized[d]),
                       int(self.key_ids[d]), strokes)

    def drawing_pool(self, split: str | None = None, categories: Sequence[str] | None = None) -> np.ndarray:
        """Ids of the drawings in a split and/or among some categories.

        Args:
            split: ``"train"``, ``"test"`` (:func:`qdimd.strokes.splits.split_of` of the category) or ``None`` = all.
            categories: category names to keep (``None`` = all); each must be in the store.

        Returns:
            ``(K,)`` int64 drawing ids, ascending.

        Raises:
            ValueError: an unknown split, or nothing left to draw from.
            InputError: a category the store does not hold (with close matches).
        """
        check_split(split)
        chosen = np.ones(len(self.categories), dtype=bool)
        if split is not None:
            chosen &= np.array([split_of(c) == split for c in self.categories], dtype=bool)
        if categories is not None:
            where = f"the store {self.path}" if self.path else "the store"
            categories = check_categories(categories, self.categories, where=where)  # close matches listed
            chosen &= np.isin(np.array(self.categories, dtype=object), list(categories))
        if chosen.all():
            return np.arange(self.n_drawings, dtype=np.int64)
        pool = np.flatnonzero(chosen[np.asarray(self.drawing_category)]).astype(np.int64)
        if len(pool) == 0:
            raise ValueError(f"Expected drawings in split={split!r} categories={categories!r}, got none in this store")
        return pool

    def save(self, path: PathLike) -> None:
        """Write the store to ``path`` atomically (temporary name in the same folder, then rename)."""
        arrays = {name: np.asarray(getattr(self, name)) for name in ARRAYS}
        write_store_file(path, self.categories, {n: len(a) for n, a in arrays.items()},
                         {n: (lambda a=a: [a]) for n, a in arrays.items()})

    @classmethod
    def load(cls, path: PathLike, validate: bool = True) -> "StrokeStore":
        """Open a ``.qds`` file, memory-mapped.

        Args:
            path: the file.
            validate: check every offset and category id (:func:`check_offsets`: one streaming pass
                over the offset arrays: 0.16 s for 5 M drawings of 25 M strokes in the page cache), so that a damaged or tampered file
                fails here, naming itself, rather than with an ``IndexError`` while sampling. Workers
                that reopen a store their parent validated pass ``False`` (then only the header and the
                arrays' ends are checked, O(1)).

        Raises:
            InputError: missing, foreign, truncated or inconsistent file.
        """
        path = Path(path).absolute()
        header, data_end = read_header(path)
        size = path.stat().st_size
        if size < data_end:
            raise InputError(f"{path}: truncated stroke store ({size} bytes, expected {data_end})")
        whole = np.memmap(path, dtype=np.uint8, mode="r")
        arrays = {}
        for name, (dtype, _) in ARRAYS.items():
            spec = header["arrays"][name]
            count = int(np.prod(spec["shape"], dtype=np.int64))
            nbytes = count * np.dtype(dtype).itemsize
            arrays[name] = whole[spec["offset"]:spec["offset"] + nbytes].view(dtype).reshape(spec["shape"])
        store = cls(**arrays, categories=tuple(header["categories"]), path=path)
        _check_consistent(store, path)
        if validate:
            check_offsets(store, path)
        return store

    @classmethod
    def from_drawings(cls, drawings: Iterable[Drawing]) -> "StrokeStore":
        """Build an in-memory store (category ids follow the sorted category names)."""
        words, keys, recog, n_strokes, lengths, points = [], [], [], [], [], []
        for d in drawings:
            if not d.strokes:
                raise ValueError(f"Expected at least one stroke in drawing {d.key_id}, got none")
            words.append(d.word)
            keys.append(d.key_id)
            recog.append(d.recognized)
            n_strokes.append(len(d.strokes))
            for s in d.strokes:
                if len(s) == 0:
                    raise ValueError(f"Expected strokes of >= 1 point in drawing {d.key_id}, got an empty one")
                lengths.append(len(s))
                points.append(s)
        categories = tuple(sorted(set(words)))
        index = {c: i for i, c in enumerate(categories)}
        pts = quantize(np.concatenate(points)) if points else np.zeros((0, 2), np.uint8)
        return cls(
            points=pts,
            stroke_starts=_starts(lengths),
            drawing_starts=_starts(n_strokes),
            drawing_category=np.array([index[w] for w in words], dtype=np.int16),
            key_ids=np.array(keys, dtype=np.uint64),
            recognized=np.array(recog, dtype=bool),
            categories=categories,
        )


def quantize(points: np.ndarray) -> np.ndarray:
    """``(P, 2)`` coordinates in 0..255 to uint8 (rounded to nearest, clipped)."""
    return np.minimum(np.maximum(np.rint(points), 0), 255).astype(np.uint8)


def _starts(counts: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _check_consistent(store: StrokeStore, path: Path) -> None:
    """O(1) checks of the offsets' ends, so a damaged file fails here rather than during sampling."""
    ok = (len(store.stroke_starts) >= 1 and len(store.drawing_starts) >= 1
          and store.stroke_starts[0] == 0 and store.stroke_starts[-1] == store.n_points
          and store.drawing_starts[0] == 0 and store.drawing_starts[-1] == store.n_strokes
          and len(store.drawing_category) == len(store.key_ids) == len(store.recognized) == store.n_drawings)
    if not ok:
        raise InputError(f"{path}: inconsistent stroke store (offsets do not match the arrays)")


CHECK_BLOCK = 1 << 22
"""Offsets checked per block by :func:`check_offsets` (32 MiB of int64)."""


def check_offsets(store: StrokeStore, path: PathLike, caps: bool = True) -> None:
    """Check, block by block, that every stroke and drawing offset increases (each stroke has a point,
    each drawing a stroke), that every category id names a category and (``caps``) that no drawing
    exceeds :data:`~qdimd.strokes.ndjson.MAX_POINTS` points or :data:`~qdimd.strokes.ndjson.MAX_STROKES`
    strokes (`qdimd index` skips such drawings, so its stores never hold one).

    Raises:
        InputError: naming ``path``, the array and the first bad position.
    """
    def fail(what: str, at: int) -> None:
        raise InputError(f"{path}: corrupt stroke store: {what} at position {at} (rebuild it with `qdimd index`)")

    for name in ("stroke_starts", "drawing_starts"):
        starts = getattr(store, name)
        for i in range(0, len(starts) - 1, CHECK_BLOCK):
            block = np.asarray(starts[i:i + CHECK_BLOCK + 1])
            if (block[1:] <= block[:-1]).any():  # comparisons, not np.diff: no int64 temporary
                fail(f"{name} not increasing (an empty or negative span)", i + int(np.argmax(block[1:] <= block[:-1])))
    stroke_starts = np.asarray(store.stroke_starts)
    for i in range(0, store.n_drawings, CHECK_BLOCK):
        category = np.asarray(store.drawing_category[i:i + CHECK_BLOCK])
        if category.size and (category.min() < 0 or category.max() >= len(store.categories)):
            at = int(np.argmax((category < 0) | (category >= len(store.categories))))
            fail(f"category id {int(category[at])} of {len(store.categories)} categories", i + at)
        if not caps:
            continue
        ds = np.asarray(store.drawing_starts[i:i + CHECK_BLOCK + 1])
        points, strokes = np.diff(stroke_starts[ds]), np.diff(ds)
        if points.max(initial=0) > MAX_POINTS or strokes.max(initial=0) > MAX_STROKES:
            at = int(np.argmax((points > MAX_POINTS) | (strokes > MAX_STROKES)))
            fail(f"drawing too large ({int(points[at]):,} points, {int(strokes[at]):,} strokes; "
                 f"caps {MAX_POINTS:,} and {MAX_STROKES:,}, qdimd.strokes.ndjson)", i + at)


def default_store_path() -> Path:
    """Path of the bundled real Quick, Draw! sample (``qdimd/data/quickdraw_sample.qds``)."""
    return Path(str(resources.files("qdimd") / "data" / DEFAULT_STORE))


def load_default_store() -> StrokeStore:
    """The bundled real Quick, Draw! sample (8,600 drawings of 344 categories; CC BY 4.0, see NOTICE)."""
    path = default_store_path()
    if not path.is_file():
        raise InputError(f"{path}: the bundled stroke store is missing (reinstall qdimd, or pass --strokes)")
    return StrokeStore.load(path)


def iter_store_records(store: StrokeStore) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Drawing ids with their ``(P, 2)`` uint8 points and stroke lengths (for merging stores)."""
    ss = np.asarray(store.stroke_starts)
    ds = np.asarray(store.drawing_starts)
    for d in range(store.n_drawings):
        s0, s1 = ds[d], ds[d + 1]
        yield d, store.points[ss[s0]:ss[s1]], np.diff(ss[s0:s1 + 1])
