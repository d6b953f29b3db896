"""How generated masks are laid out on disk: file names, PNG bytes, parts, tar shards.

Layouts (``--layout``):

* ``plain``: ``00000000.png``, ``00000001.png``, ... by global index (8 digits, wider if needed).
* ``qdimd``: the original QD-IMD names ``00000_train.png``, ``00001_train.png``, ... (5 digits,
  wider if needed, numbered from 0 as karfly/qd-imd's ``generate_dataset.py`` numbers them; the
  suffix is the split, ``train`` when none is chosen).

PNG bytes (``--png-bits``): 8 (default) writes 8-bit greyscale PNGs (0 and 255), which every
reader takes as it is; 1 writes 1-bit greyscale PNGs, an eighth of the pixels to compress and
10-20% fewer bytes, which OpenCV's ``imread``, torchvision's ``read_image`` and PIL's
``convert("L")`` expand to 0/255 but PIL itself opens in mode ``"1"`` (``np.asarray`` gives
bool). Both are written by hand: rows without filters, one ``IDAT`` chunk, deflated at level 1
by ISA-L (the ``isal`` package; about 3.5x the speed of zlib's level 1 and 3-5x OpenCV's fastest
PNG setting; stdlib ``zlib`` if ``isal`` is missing, the same pixels in other bytes).

Formats (``--format``): ``png`` writes one single-channel PNG per mask; ``tar``
writes WebDataset-style shards ``shard-000000.tar`` of ``shard_size`` masks each, whose
members ``<stem>.png`` hold the same PNG bytes as the folder layout (tar headers are
fixed: mtime 0, uid/gid 0, mode 0644, so shards are byte-for-byte reproducible).

Parts (``--shard K/N``): the run's *units* (masks for ``png``, tar shards for ``tar``)
are cut into N contiguous, disjoint ranges; part K (1-based) holds units
``floor((K - 1) * U / N) .. floor(K * U / N) - 1``. Every mask keeps its global index,
so the union of the N parts is exactly the unsharded run.
"""
from __future__ import annotations

import struct
import tarfile
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

try:
    from isal import isal_zlib as _deflate
except ImportError:  # isal is a dependency, missing on a stock Python: zlib gives the same pixels in other bytes
    _deflate = zlib
    warnings.warn("isal is not installed: PNG masks are compressed with zlib (same pixels, slower; pip install isal)",
                  stacklevel=2)

LAYOUTS: tuple[str, ...] = ("plain", "qdimd")
FORMATS: tuple[str, ...] = ("png", "tar")
CHUNK = 500
"""Masks per work item in the ``png`` format (fixed, so resumed runs see the same chunks)."""
PNG_BITS: tuple[int, ...] = (1, 8)
PNG_LEVEL = 1
"""Deflate level: the fastest that compresses (level 0 of ISA-L stores runs at 1.5x the size)."""
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
        return f"{index:0{max(5, len(str(n - 1)))}d}_{split or 'train'}"
    raise ValueError(f"Expected layout in {LAYOUTS}, got {layout!r}")


def shard_name(shard: int) -> str:
    """``shard-000000.tar`` for shard 0."""
    return f"shard-{shard:06d}.tar"


def check_png_bits(bits: int) -> int:
    """``bits`` if it is a PNG bit depth we write (:data:`PNG_BITS`), else ValueError."""
    if isinstance(bits, bool) or bits not in PNG_BITS:
        raise ValueError(f"Expected PNG bits in {PNG_BITS}, got {bits!r}")
    return int(bits)


def encode_png(hole: np.ndarray, hole_value: int = 255, bits: int = 8) -> bytes:
    """``(H, W)`` bool hole mask to single-channel PNG bytes, holes white (``hole_value=255``) or black.

    Args:
        bits: 8 (greyscale 0/255) or 1 (1-bit greyscale; see the module docstring).
    """
    return encode_png_rows(png_rows(hole, hole_value, bits), hole.shape[1], bits)


def png_rows(hole: np.ndarray, hole_value: int = 255, bits: int = 8) -> np.ndarray:
    """The PNG scanlines of a ``(H, W)`` bool hole mask: ``(H, 1 + row bytes)`` uint8, each row a
    filter byte (0, none) and its pixels (one byte each, or 8 per byte most significant bit first)."""
    check_png_bits(bits)
    if hole_value not in (0, 255):
        raise ValueError(f"Expected hole_value 255 or 0, got {hole_value!r}")
    hole = np.asarray(hole, dtype=bool)
    height, width = hole.shape
    rows = np.empty((height, (width + 7) // 8 + 1 if bits == 1 else width + 1), dtype=np.uint8)
    rows[:, 1:] = np.packbits(hole, axis=1) if bits == 1 else hole  # 8 bits: 0/1 for now
    # Whole rows (contiguous: twice as fast as the pixel view), the filter bytes reset below.
    if hole_value == 0 and bits == 1:
        np.invert(rows, out=rows)
    elif hole_value == 0:
        np.subtract(rows, np.uint8(1), out=rows)  # 1 -> 0, 0 -> 255 (uint8 wraps)
    elif bits == 8:
        np.negative(rows, out=rows)  # 1 -> 255, 0 -> 0
    rows[:, 0] = 0  # filter type None
    return rows


def encode_png_rows(rows: np.ndarray, width: int, bits: int = 8) -> bytes:
    """A greyscale PNG of :func:`png_rows` output (``width`` px, ``bits`` per pixel)."""
    header = struct.pack(">IIBBBBB", width, rows.shape[0], bits, 0, 0, 0, 0)  # greyscale, deflate, no interlace
    return b"".join((_PNG_SIGNATURE, _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", _deflate.compress(rows, PNG_LEVEL)), _png_chunk(b"IEND", b"")))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


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
