"""The ``.qds`` stroke store file: one header, six raw arrays, written atomically.

Layout of a ``.qds`` file (little-endian)::

    b"QDSTORE\\x00"  8-byte magic
    uint64           length of the JSON header in bytes
    JSON header      {"format": "qdimd-stroke-store", "version": 1, "categories": [...],
                      "arrays": {name: {"dtype", "shape", "offset"}}}
    raw arrays       each starting at a 64-byte aligned offset, C order

Readers check the magic, the header and the file length before mapping, so a
foreign or truncated file fails with :class:`~qdimd.errors.InputError`.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..io import PathLike, atomic_open, json_dumps, json_loads

MAGIC = b"QDSTORE\x00"
FORMAT = "qdimd-stroke-store"
VERSION = 1
ALIGN = 64
# name -> (dtype, trailing shape); the leading length comes from the header
ARRAYS: dict[str, tuple[str, tuple[int, ...]]] = {
    "points": ("<u1", (2,)),
    "stroke_starts": ("<i8", ()),
    "drawing_starts": ("<i8", ()),
    "drawing_category": ("<i2", ()),
    "key_ids": ("<u8", ()),
    "recognized": ("|b1", ()),
}


def is_store_file(path: PathLike) -> bool:
    """Whether ``path`` is a readable file starting with the ``.qds`` magic (whatever its name)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_header(path: Path) -> tuple[dict, int]:
    """The validated JSON header and the byte offset where the data must end."""
    try:
        with open(path, "rb") as f:
            start = f.read(16)
            if len(start) < 16 or start[:8] != MAGIC:
                raise InputError(f"{path}: not a qdimd stroke store (bad magic; build one with `qdimd index`)")
            (size,) = struct.unpack("<Q", start[8:])
            raw = f.read(size) if size < 2**26 else b""
    except FileNotFoundError:
        raise InputError(f"{path}: no such stroke store") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a stroke store") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    try:
        header = json_loads(raw)
        if header.get("format") != FORMAT:
            raise ValueError("foreign format")
        if header.get("version") != VERSION:
            raise InputError(f"{path}: stroke store version {header.get('version')}, this qdimd reads {VERSION}")
        end = 0
        for name, (dtype, tail) in ARRAYS.items():
            spec = header["arrays"][name]
            shape, offset = spec["shape"], spec["offset"]
            if (spec["dtype"] != dtype or tuple(shape[1:]) != tail or not all(type(v) is int and v >= 0 for v in shape)
                    or type(offset) is not int or offset % ALIGN or offset < 16 + size):
                raise ValueError(f"bad array {name}")  # a negative, fractional or header-overlapping extent
            end = max(end, spec["offset"] + int(np.prod(spec["shape"], dtype=np.int64)) * np.dtype(dtype).itemsize)
        if not all(isinstance(c, str) for c in header["categories"]):
            raise ValueError("bad categories")
    except InputError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"{path}: corrupt or truncated stroke store header") from None
    return header, end


def write_store_file(path: PathLike, categories: Sequence[str], lengths: Mapping[str, int],
                     chunks: Mapping[str, Callable[[], Iterable[np.ndarray]]]) -> None:
    """Write a ``.qds`` file atomically from array chunks.

    Args:
        path: destination.
        categories: category names.
        lengths: leading length of each array in :data:`ARRAYS`.
        chunks: for each array, a function returning an iterable of numpy chunks whose
            concatenation is the array (so arrays larger than memory stream through).
    """
    path = Path(path)
    specs, offset = {}, 0
    for name, (dtype, tail) in ARRAYS.items():
        specs[name] = {"dtype": dtype, "shape": [int(lengths[name]), *tail], "offset": offset}
        offset = _align(offset + int(lengths[name]) * int(np.prod(tail, dtype=np.int64)) * np.dtype(dtype).itemsize)
    header = {"format": FORMAT, "version": VERSION, "categories": list(categories), "arrays": specs}
    base = _align(16 + len(json_dumps(header)))
    while True:  # shift every offset past the header (the header grows with the offsets' digits)
        shifted = {**header, "arrays": {n: {**s, "offset": s["offset"] + base} for n, s in specs.items()}}
        head = json_dumps(shifted)
        if 16 + len(head) <= base:
            break
        base += ALIGN
    specs = shifted["arrays"]
    with atomic_open(path, fsync=True) as f:
        f.write(MAGIC + struct.pack("<Q", len(head)) + head)
        for name, (dtype, _) in ARRAYS.items():
            _pad_to(f, specs[name]["offset"])
            written = 0
            for chunk in chunks[name]():
                chunk = np.ascontiguousarray(chunk, dtype=dtype)
                f.write(memoryview(chunk).cast("B"))
                written += len(chunk)
            if written != lengths[name]:
                raise RuntimeError(f"store writer: {name} has {written} rows, expected {lengths[name]}")


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _pad_to(f: BinaryIO, offset: int) -> None:
    pos = f.tell()
    f.write(b"\0" * (offset - pos))
