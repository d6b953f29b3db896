"""The Quick, Draw! binary (``.bin``) and sketch-rnn (``.npz``) formats, read and written.

Binary (``full/binary/<category>.bin``; googlecreativelab/quickdraw-dataset,
``examples/binary_file_parser.py``): the simplified drawings as consecutive
little-endian records, no file header::

    key_id       uint64
    countrycode  2 bytes ASCII
    recognized   uint8 (0 or 1)
    timestamp    uint32, Unix seconds
    n_strokes    uint16
    n_strokes x (n_points uint16, x uint8[n_points], y uint8[n_points])

The word is the file name (``cat.bin`` -> ``cat``); the timestamp is kept as
given, its decimal digits (ndjson has ``"2017-03-01 20:41:36.70725 UTC"``).

Sketch-rnn (``sketchrnn/<category>.npz`` and ``.full.npz``; Ha & Eck 2017):
arrays ``train``/``valid``/``test`` of int16 ``(n, 3)`` stroke-3 rows
``(dx, dy, pen_lifted)`` per drawing, made from the simplified drawings with
RDP epsilon 2.0; ``pen_lifted = 1`` ends a stroke. Offsets are summed into
positions, shifted so the minimum x and y are 0 (the simplified alignment,
whichever point the first offset starts from) and, only if the drawing then
spans more than 255, scaled down uniformly to 0..255. The files hold no ids,
countries, times or recognition flags: ``key_id`` is made unique and
deterministic, ``(1 << 63) | crc32(word) << 31 | part << 29 | index`` (never a
real Quick, Draw! id, which are below 2**53), ``recognized`` is True, the
country and time are empty. Object arrays are unpickled with an allow-list of
numpy's own array constructors, so a hostile ``.npz`` cannot run code.

Bad input never ends in a traceback: a missing, empty, truncated or corrupt
file or record goes to the :class:`~qdimd.errors.ProblemLog` with the file and
the 1-based record number (``--strict`` raises at the first).
"""
from __future__ import annotations

import datetime as _dt
import io
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from ..errors import ProblemLog
from ..io import PathLike, atomic_open
from .ndjson import MAX_POINTS, MAX_STROKES, Drawing, too_large

HEADER = struct.Struct("<Q2sBIH")  # key_id, countrycode, recognized, timestamp, n_strokes
U16 = struct.Struct("<H")
SKETCHRNN_PARTS = ("train", "valid", "test")
SYNTHETIC_KEY = 1 << 63


def category_of(path: PathLike) -> str:
    """The category a file holds, from its name: ``cat.bin``, ``cat.npz``, ``cat.full.npz`` -> ``cat``."""
    name = Path(path).name
    for suffix in (".full.npz", ".npz", ".bin"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def read_binary(path: PathLike, *, problems: ProblemLog) -> Iterator[Drawing]:
    """Yield the drawings of a Quick, Draw! ``.bin`` file, streamed from a memory map.

    Args:
        path: ``<category>.bin``.
        problems: collects bad records and files (strict mode raises at the first).

    Yields:
        :class:`~qdimd.strokes.ndjson.Drawing` in file order, strokes ``(n, 2)`` float64 in 0..255.
    """
    word = category_of(path)
    data = _map_file(path, problems)
    if data is None:
        return
    offset, record, size = 0, 0, len(data)
    try:
        while offset < size:
            record += 1
            start = offset
            try:
                key_id, country, recognized, timestamp, n_strokes = HEADER.unpack_from(data, offset)
                if recognized > 1:
                    problems.add(str(path), record, f"not a Quick, Draw! binary record at byte {start} (recognized "
                                                    f"byte is {recognized}, Expected 0 or 1); the rest is unreadable")
                    return
                offset += HEADER.size
                spans = []  # (offset, points) of each stroke: the record is measured before any copy
                for _ in range(n_strokes):
                    (n,) = U16.unpack_from(data, offset)
                    if offset + 2 + 2 * n > size:
                        raise struct.error("stroke runs past the end")
                    spans.append((offset + 2, n))
                    offset += 2 + 2 * n
            except struct.error:
                problems.add(str(path), record, f"truncated record at byte {start} of {size}; the rest is unreadable")
                return
            total = sum(n for _, n in spans)
            if n_strokes > MAX_STROKES or total > MAX_POINTS:
                problems.add(str(path), record, too_large(n_strokes, "strokes") if n_strokes > MAX_STROKES
                             else too_large(total, "points"))
                continue
            # empty strokes carry nothing to draw; they are dropped
            strokes = [np.frombuffer(data[o:o + 2 * n], np.uint8).reshape(2, n).T.astype(np.float64) for o, n in spans if n]
            if not strokes:
                problems.add(str(path), record, "no points in any stroke")
                continue
            countrycode = country.rstrip(b"\0").decode("ascii", "replace")
            yield Drawing(word, countrycode, str(timestamp), bool(recognized), key_id, tuple(strokes))
    finally:
        data.close()


def _map_file(path: PathLike, problems: ProblemLog):
    import mmap

    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                problems.add(str(path), None, "empty file (no drawings)")
                return None
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        problems.add(str(path), None, "no such file")
    except IsADirectoryError:
        problems.add(str(path), None, "is a folder, not a .bin file")
    except (OSError, ValueError) as exc:
        problems.add(str(path), None, f"cannot read ({exc})")
    return None


def _to_uint8(points: np.ndarray, drawing: Drawing) -> np.ndarray:
    q = np.rint(np.asarray(points, dtype=np.float64))
    if q.size and (q.min() < 0 or q.max() > 255):
        raise ValueError(f"Expected coordinates in 0..255 (simplified space), got {q.min():g}..{q.max():g} "
                         f"in drawing {drawing.key_id} ({drawing.word})")
    return q.astype(np.uint8)


def _unix_seconds(timestamp: str) -> int:
    """``"1488400896"`` or ndjson's ``"2017-03-01 20:41:36.70725 UTC"`` -> Unix seconds (empty -> 0)."""
    text = timestamp.strip()
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    try:
        when = _dt.datetime.fromisoformat(text.removesuffix("UTC").strip())
    except ValueError:
        raise ValueError(f"Expected a Unix time or 'YYYY-MM-DD hh:mm:ss[.f] UTC', got {timestamp!r}") from None
    return int(when.replace(tzinfo=_dt.timezone.utc).timestamp())


def write_binary(path: PathLike, drawings: Iterable[Drawing]) -> None:
    """Write drawings in the Quick, Draw! binary format (atomically).

    Coordinates are rounded to integers; timestamps are Unix seconds or ndjson's UTC text.

    Raises:
        ValueError: a coordinate outside 0..255, more than 65,535 strokes or points, a key_id
            outside uint64, a non-ASCII country code or an unreadable timestamp.
    """
    with atomic_open(path) as f:
        for d in drawings:
            strokes = [s for s in d.strokes if len(s)]
            country = d.countrycode.encode("ascii")
            if len(country) > 2 or len(strokes) > 0xFFFF or not 0 <= d.key_id < 2**64:
                raise ValueError(f"Expected a country code of <= 2 ASCII letters, <= 65535 strokes and a uint64 "
                                 f"key_id, got {d.countrycode!r}, {len(strokes)}, {d.key_id}")
            f.write(HEADER.pack(d.key_id, country.ljust(2, b"\0"), int(bool(d.recognized)),
                                _unix_seconds(d.timestamp), len(strokes)))
            for s in strokes:
                if len(s) > 0xFFFF:
                    raise ValueError(f"Expected <= 65535 points per stroke, got {len(s)} in drawing {d.key_id}")
                q = _to_uint8(s, d)
                f.write(U16.pack(len(q)) + q[:, 0].tobytes() + q[:, 1].tobytes())


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (``np.load(allow_pickle=True)`` would run any code)."""

    def find_class(self, module: str, name: str):
        allowed = {"_reconstruct", "scalar", "_frombuffer", "ndarray", "dtype", "encode"}
        if name in allowed and module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                                          "numpy.core.numeric", "numpy._core.numeric", "_codecs"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")


def _load_npy(data: bytes) -> np.ndarray:
    """One ``.npy`` member of an ``.npz``; object arrays through :class:`_ArrayUnpickler`."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(stream)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    arr = _ArrayUnpickler(stream, encoding="latin1").load()
    if not isinstance(arr, np.ndarray) or arr.shape != shape:
        raise ValueError(f"Expected an object array of shape {shape}, got {type(arr).__name__}")
    return arr


def _open_npz(path: PathLike, problems: ProblemLog) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        problems.add(str(path), None, "no such file")
    except IsADirectoryError:
        problems.add(str(path), None, "is a folder, not an .npz file")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        problems.add(str(path), None, f"not a readable .npz (zip) file ({exc})")
    return None


def stroke3_to_strokes(rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sketch-rnn stroke-3 rows to absolute strokes in 0..255.

    Args:
        rows: ``(n, 3)`` integer ``(dx, dy, pen_lifted)``; ``pen_lifted != 0`` ends a stroke.

    Returns:
        ``(m, 2)`` float64 x, y arrays, shifted to minimum 0 and scaled down (uniformly) only
        where the drawing spans more than 255.

    Raises:
        ValueError: not an ``(n >= 1, 3)`` integer array, or a drawing over
            :data:`~qdimd.strokes.ndjson.MAX_POINTS` points or :data:`~qdimd.strokes.ndjson.MAX_STROKES` strokes.
    """
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != 3 or not len(rows) or rows.dtype.kind not in "iu":
        raise ValueError(f"Expected (n >= 1, 3) integer stroke-3 rows, got shape {rows.shape} of {rows.dtype}")
    if len(rows) > MAX_POINTS:
        raise ValueError(too_large(len(rows), "points"))
    if np.count_nonzero(rows[:-1, 2]) >= MAX_STROKES:
        raise ValueError(too_large(np.count_nonzero(rows[:-1, 2]) + 1, "strokes"))
    points = np.cumsum(rows[:, :2].astype(np.float64), axis=0)
    points -= points.min(axis=0)
    extent = points.max()
    if extent > 255:
        points *= 255.0 / extent
    ends = np.flatnonzero(rows[:-1, 2] != 0) + 1
    return tuple(np.split(points, ends))


def strokes_to_stroke3(strokes: Iterable[np.ndarray]) -> np.ndarray:
    """Absolute strokes to int16 stroke-3 rows (magenta's ``lines_to_strokes``: row 0 is the first point).

    Args:
        strokes: ``(n, 2)`` x, y arrays; coordinates are rounded to integers.

    Returns:
        ``(N, 3)`` int16 ``(dx, dy, pen_lifted)``.
    """
    parts = [np.rint(np.asarray(s, dtype=np.float64)) for s in strokes if len(s)]
    points = np.concatenate(parts)
    if np.abs(points).max(initial=0) > 32767:
        raise ValueError(f"Expected coordinates within int16, got up to {np.abs(points).max():g}")
    rows = np.zeros((len(points), 3), dtype=np.int16)
    rows[:, :2] = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
    rows[np.cumsum([len(p) for p in parts]) - 1, 2] = 1
    return rows


def read_sketchrnn(path: PathLike, *, problems: ProblemLog,
                   parts: Iterable[str] = SKETCHRNN_PARTS) -> Iterator[Drawing]:
    """Yield the drawings of a sketch-rnn ``.npz`` (see the module docstring for the conversion).

    Args:
        path: ``<category>.npz`` or ``<category>.full.npz``.
        problems: collects bad records and files (strict mode raises at the first); record
            numbers count through the requested parts in order.
        parts: which of ``train``, ``valid``, ``test`` to read.

    Yields:
        :class:`~qdimd.strokes.ndjson.Drawing`, part by part.
    """
    parts = tuple(parts)
    unknown = [p for p in parts if p not in SKETCHRNN_PARTS]
    if unknown or not parts:
        raise ValueError(f"Expected parts from {SKETCHRNN_PARTS}, got {parts!r}")
    word = category_of(path)
    archive = _open_npz(path, problems)
    if archive is None:
        return
    record = 0
    with archive:
        names = {n.removesuffix(".npy") for n in archive.namelist()}
        if not names & set(SKETCHRNN_PARTS):
            problems.add(str(path), None, f"not a sketch-rnn file: Expected arrays {SKETCHRNN_PARTS}, got {sorted(names)}")
            return
        for part in parts:
            if part not in names:
                problems.add(str(path), None, f"no {part!r} array (has {sorted(names)})")
                continue
            try:
                arr = _load_npy(archive.read(f"{part}.npy"))
            except (zipfile.BadZipFile, zlib.error, pickle.UnpicklingError, EOFError, OSError, ValueError,
                    TypeError, AttributeError, IndexError, KeyError) as exc:
                problems.add(str(path), None, f"{part!r} array is corrupt ({type(exc).__name__}: {exc})")
                continue
            if arr.ndim == 3:  # equal-length drawings saved as one block instead of an object array
                arr = list(arr)
            elif arr.ndim != 1 or arr.dtype != object:
                problems.add(str(path), None, f"{part!r}: Expected a 1-D object array of drawings, "
                                              f"got shape {arr.shape} of {arr.dtype}")
                continue
            base = SYNTHETIC_KEY | zlib.crc32(word.encode("utf-8")) << 31 | SKETCHRNN_PARTS.index(part) << 29
            for i, rows in enumerate(arr):
                record += 1
                try:
                    strokes = stroke3_to_strokes(rows)
                except ValueError as exc:
                    problems.add(str(path), record, f"{part}[{i}]: {exc}")
                    continue
                yield Drawing(word, "", "", True, base | i, strokes)


def write_sketchrnn(path: PathLike, drawings: Iterable[Drawing] | Mapping[str, Iterable[Drawing]]) -> None:
    """Write drawings as a sketch-rnn ``.npz`` (compressed, atomically).

    Args:
        path: the ``.npz`` file.
        drawings: drawings for ``train`` (``valid`` and ``test`` then empty), or a mapping
            from part names to drawings.
    """
    groups = drawings if isinstance(drawings, Mapping) else {"train": drawings}
    unknown = [p for p in groups if p not in SKETCHRNN_PARTS]
    if unknown:
        raise ValueError(f"Expected parts from {SKETCHRNN_PARTS}, got {unknown!r}")
    arrays = {}
    for part in SKETCHRNN_PARTS:
        rows = [strokes_to_stroke3(d.strokes) for d in groups.get(part, ())]
        arr = np.empty(len(rows), dtype=object)
        for i, r in enumerate(rows):
            arr[i] = r
        arrays[part] = arr
    with atomic_open(path) as f:
        np.savez_compressed(f, **arrays)
