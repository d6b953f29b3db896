"""Mask files: reading any mask image as a hole array, resizing it, atomic writes, JSON.

Hole polarity on disk: ``hole_value=255`` means white = missing (the NVIDIA test
set, LaMa), ``0`` means black = missing (the original QD-IMD files).

JSON (:func:`json_loads`, :func:`json_dumps`) goes through ``orjson`` when it is
installed (a dependency: the ndjson strokes parse about 3x faster) and the standard
``json`` module otherwise, with one warning per process; both write the same compact text.
"""
from __future__ import annotations

import json
import os
import secrets
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Literal, Union

import numpy as np
from PIL import Image

from .files.maskrules import read_mask_gray

try:
    import orjson as _orjson
except ImportError:   # a stock Python (a bare GPU box): the standard library, slower
    _orjson = None
    warnings.warn("orjson is not installed: JSON is read and written with Python's json module (slower; "
                  "pip install orjson)", stacklevel=2)

JSONDecodeError = json.JSONDecodeError
"""Raised by :func:`json_loads` on bad text (``orjson.JSONDecodeError`` is a subclass)."""

HoleValue = Literal[255, 0]
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
PathLike = Union[str, os.PathLike]


def load_gray(path: PathLike | BinaryIO) -> np.ndarray:
    """Read a mask file as ``(H, W)`` uint8 grey as displayed (any mode, bit depth, EXIF orientation).

    The same reading and the same "is it a mask" rule as every command
    (:func:`qdimd.files.maskrules.read_mask_gray`).

    Raises:
        InputError: the file is missing, not a readable image, or not a mask (a photo).
    """
    return read_mask_gray(path)


def hole_from_gray(gray: np.ndarray, hole_value: int, threshold: int = 128) -> np.ndarray:
    """Binarise a grey mask at ``threshold`` into ``(H, W)`` bool, True = hole.

    Args:
        gray: ``(H, W)`` uint8.
        hole_value: 255 if white marks holes, 0 if black does.
        threshold: grey levels ``>= threshold`` count as white (anti-aliased or JPEG masks).
    """
    if hole_value not in (0, 255):
        raise ValueError(f"Expected hole_value 255 or 0, got {hole_value!r}")
    white = gray >= threshold
    return white if hole_value == 255 else ~white


def hole_to_gray(hole: np.ndarray, hole_value: int = 255) -> np.ndarray:
    """``(H, W)`` bool hole mask to uint8 with holes at ``hole_value`` and the rest at the other."""
    if hole_value not in (0, 255):
        raise ValueError(f"Expected hole_value 255 or 0, got {hole_value!r}")
    hole = np.asarray(hole)
    out = (hole.view(np.uint8) if hole.dtype == bool else hole.astype(np.uint8)) * np.uint8(255)
    if hole_value == 0:
        np.subtract(np.uint8(255), out, out=out)
    return out


def resize_hole(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize (PIL's, pixel centres) of a ``(h, w)`` bool hole mask to ``size = (H, W)``.

    Returns ``hole`` itself when it already has that size.
    """
    if hole.shape == tuple(size):
        return hole
    im = Image.fromarray(hole_to_gray(hole)).resize((size[1], size[0]), Image.NEAREST)
    return np.asarray(im) >= 128


@contextmanager
def atomic_open(path: PathLike, *, fsync: bool = False) -> Iterator[BinaryIO]:
    """A binary file written under a temporary name in the same folder, renamed to ``path`` on success.

    A reader never sees a half-written file, and an interrupted or failed write
    leaves nothing under the final name. The file gets the usual umask permissions.

    Args:
        fsync: flush the data to disk before the rename, so that a power loss cannot
            leave an empty file under the final name (checkpoints, stores; too slow for
            thousands of small mask files, where a kill is the case that matters).
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:  # the open is inside: a signal right after it must not leave the temporary file
        # os.open with 0o666 honours the umask (mkstemp would leave the file at 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: PathLike, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, fsync=fsync) as f:
        f.write(data)


def json_loads(data: bytes | bytearray | str):
    """Parse JSON text (bytes or str); raises :data:`JSONDecodeError`."""
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)


def _numpy_value(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def json_dumps(obj, *, indent: bool = False, sort_keys: bool = False) -> bytes:
    """UTF-8 JSON bytes: compact, or indented by 2 spaces (``indent``); keys sorted with ``sort_keys``; numpy values as lists/numbers."""
    if _orjson is not None:
        option = (_orjson.OPT_INDENT_2 if indent else 0) | (_orjson.OPT_SORT_KEYS if sort_keys else 0)
        return _orjson.dumps(obj, option=option | _orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(obj, indent=2 if indent else None, separators=(",", ": ") if indent else (",", ":"),
                      sort_keys=sort_keys, ensure_ascii=False, default=_numpy_value).encode()
