"""Mask files: reading any mask image as a hole array, resizing it, atomic writes, JSON; where files may be written.

Hole polarity on disk: ``hole_value=255`` means white = missing (the NVIDIA test
set, LaMa), ``0`` means black = missing (the original QD-IMD files).

JSON (:func:`json_loads`, :func:`json_dumps`) goes through ``orjson`` when it is
installed (a dependency: the ndjson strokes parse about 3x faster) and the standard
``json`` module otherwise, with one warning per process; both write the same compact text
(NaN and infinities as ``null``, as orjson writes them).

Outputs never reach inputs or leave their folder: :func:`check_not_input` (every command, before any
work: an output that is, holds or lies inside an input), :func:`confined_path` (a path read from a
manifest or config stays inside its folder), :func:`make_own_folder` and :func:`owned_entry` (a
command writes and deletes only its own entries, never through a symbolic link).
"""
from __future__ import annotations

import errno
import glob
import hashlib
import json
import math
import os
import re
import secrets
import stat
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Literal, Union

import numpy as np
from PIL import Image

from .errors import InputError
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


_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.tmp")


def temp_file_target(entry: str) -> str | None:
    """The final name whose temporary file :func:`atomic_open` calls ``entry`` (``.NAME.<12 hex>.tmp``), else None."""
    match = _TEMP_NAME.fullmatch(entry)
    return match["name"] if match else None


_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


def _is_device(path: Path) -> bool:
    """True when ``path`` (links followed) is a character or block device, a FIFO or a socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextmanager
def atomic_open(path: PathLike, *, fsync: bool = False) -> Iterator[BinaryIO]:
    """A binary file written under a temporary name in the same folder, renamed to ``path`` on success.

    A reader never sees a half-written file, and an interrupted or failed write
    leaves nothing under the final name. The file gets the usual umask permissions.
    A device, FIFO or socket at ``path`` (``-o /dev/stdout``) is written in place, never replaced.

    Args:
        fsync: flush the data to disk before the rename, so that a power loss cannot
            leave an empty file under the final name (checkpoints, stores; too slow for
            thousands of small mask files, where a kill is the case that matters).
    """
    path = Path(path)
    try:
        if _is_device(path):  # /dev/stdout, /dev/full, a FIFO: written in place; a rename would replace the node itself
            with open(path, "wb") as f:
                yield f
            return
        with _atomic_file(path, fsync) as f:
            yield f
    except OSError as exc:
        if exc.filename is None and exc.errno in _WRITE_ERRORS:  # a failed write() names no file: name this one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


@contextmanager
def _atomic_file(path: Path, fsync: bool) -> Iterator[BinaryIO]:
    """The temporary file of :func:`atomic_open`, renamed to ``path`` on success, removed on failure."""
    if path.is_dir():
        raise InputError(f"{path}: a folder where a file is to be written; give a file name")
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"  # temp_file_target() parses this
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


def read_json_object(path: PathLike, what: str) -> dict:
    """The JSON object a command keeps in ``path`` (its run record or config).

    Raises:
        InputError: not JSON or not an object; the message names the file and ``what`` it should be.
    """
    try:
        data = json_loads(Path(path).read_bytes())
    except JSONDecodeError as exc:
        raise InputError(f"{path}: not {what} ({exc}); use another --out, or delete the folder") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not {what} (expected a JSON object, got {type(data).__name__}); use another --out, "
                         "or delete the folder")
    return data


def _numpy_value(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def json_dumps(obj, *, indent: bool = False, sort_keys: bool = False) -> bytes:
    """UTF-8 JSON bytes: compact, or indented by 2 spaces (``indent``); keys sorted with ``sort_keys``; numpy values as lists/numbers."""
    if _orjson is not None:
        option = (_orjson.OPT_INDENT_2 if indent else 0) | (_orjson.OPT_SORT_KEYS if sort_keys else 0)
        return _orjson.dumps(obj, option=option | _orjson.OPT_SERIALIZE_NUMPY)
    options = dict(indent=2 if indent else None, separators=(",", ": ") if indent else (",", ":"), sort_keys=sort_keys,
                   ensure_ascii=False, default=_numpy_value, allow_nan=False)
    try:
        return json.dumps(obj, **options).encode()
    except ValueError:   # NaN or infinity: null, as orjson writes (json's NaN token is no JSON; orjson cannot read it)
        return json.dumps(_finite_or_null(obj), **options).encode()


def _finite_or_null(value):
    """``value`` with every NaN or infinite float (numpy ones included) replaced by None."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts, case-insensitive file systems
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _under(inner: str, outer: str) -> bool:
    """True when the real path ``inner`` lies strictly inside the real folder ``outer``."""
    return os.path.commonpath([inner, outer]) == outer and inner != outer


def check_not_input(out: PathLike, inputs: dict, *, inside_ok: bool = False, option: str = "--out") -> None:
    """Refuse, before any work, an output that is one of a command's inputs or would write over one.

    Paths are compared after resolving symbolic links (``os.path.realpath``) and, for existing
    files, by identity (``os.path.samefile``: hard links too). Refused:

    * ``out`` is an input (the same file or folder);
    * ``out`` is a folder that holds an input (the command writes, replaces or removes files there);
    * unless ``inside_ok``, ``out`` lies inside an input folder (a rerun would read the outputs as inputs).

    Args:
        out: the file or folder the command writes (it need not exist yet).
        inputs: ``{label: path}`` (a label such as ``"IMAGE"`` or ``"--masks"``); a value may also be
            a list of paths, or None (skipped). Paths that do not exist cannot be harmed and are skipped.
        inside_ok: accept ``out`` inside an input folder (the command's outputs are not its inputs' kind).
        option: the output's name in messages.

    Raises:
        InputError: the message names both paths and what to do.
    """
    real_out = os.path.realpath(out)
    for label, paths in inputs.items():
        for path in [paths] if isinstance(paths, (str, os.PathLike)) else (paths or []):
            if path is None:
                continue
            if not os.path.exists(path) and any(c in str(path) for c in "*?["):  # a glob of sources
                check_not_input(out, {label: sorted(glob.glob(str(path), recursive=True))}, inside_ok=inside_ok,
                                option=option)
                continue
            if not os.path.exists(path):
                continue
            real_in = os.path.realpath(path)
            if _same(os.fspath(out), os.fspath(path)) if os.path.exists(out) else real_out == real_in:
                raise InputError(f"{option} {out} is the input {label} {path}: it would be overwritten; "
                                 f"choose another {option}")
            if _under(real_in, real_out):
                raise InputError(f"{option} {out} holds the input {label} {path}, whose files it could replace; "
                                 f"choose an {option} outside it")
            if not inside_ok and os.path.isdir(real_in) and _under(real_out, real_in):
                raise InputError(f"{option} {out} lies inside the input {label} {path}: its files would be read "
                                 f"as inputs by the next run; choose an {option} outside it")


def confined_path(root: PathLike, relative: str, where: str) -> Path:
    """``root / relative`` for a path read from a file (a manifest row, a config), refused unless it stays inside ``root``.

    The check is on the text: ``relative`` must be a relative path without ``..`` (a symbolic link
    inside ``root``, such as those of ``qdimd bucket --from --link``, is followed as usual).

    Args:
        where: ``FILE:LINE`` (or ``FILE``) for the message.

    Raises:
        InputError: an absolute path, a drive, ``..``, an empty or NUL-containing name.
    """
    text = str(relative)
    parts = text.replace("\\", "/").split("/")
    if (not text or "\0" in text or os.path.isabs(text) or text.startswith(("/", "\\")) or ".." in parts
            or (len(text) > 1 and text[1] == ":")):
        raise InputError(f"{where}: expected a relative path inside {root}, got {relative!r}")
    return Path(root) / text


def make_own_folder(path: PathLike) -> Path:
    """Create the folder ``path`` (parents too) where a command keeps its own files, refusing a symbolic link or a
    file there: what a command writes or deletes in it must never land outside its output.

    Raises:
        InputError: ``path`` is a link or not a folder.
    """
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise InputError(f"{path}: a symbolic link or a file where the command keeps its own folder; it never writes "
                         "through links: remove it")
    path.mkdir(parents=True, exist_ok=True)
    return path


def owned_entry(root: PathLike, path: PathLike) -> bool:
    """True when ``path`` names a regular file or a symbolic link (never followed) whose parent folders,
    up to ``root``, are real folders inside ``root``: an entry a command may delete as its own output."""
    root_abs = os.path.abspath(root)
    rel = os.path.relpath(os.path.abspath(path), root_abs)
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return False
    walk = root_abs
    for part in Path(rel).parts[:-1]:
        walk = os.path.join(walk, part)
        if os.path.islink(walk) or not os.path.isdir(walk):
            return False
    return os.path.islink(path) or os.path.isfile(path)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
