"""Training photos: fast uint8 decoding, the header scan cached in the run folder, the worker count.

Decoding (:func:`decode_photo`) returns ``(H, W, 3)`` uint8 covering the crop:
a JPEG at least twice the crop size (per side, after the cover scaling) is
decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT scaling (PIL ``draft``),
the largest reduction that still covers the crop; then one exact bicubic
resize of the centre box that maps onto the crop (no full-size intermediate).
Other formats are decoded at full size and resized the same way. The result
is a deterministic function of the file and the size.

The header scan (:func:`cached_scan`) opens every file's header once and writes
the readable list (and the unreadable ones with their reason) to the run folder;
a resumed run reads that list instead of scanning again, so a million photos are
scanned once per run and the data of a resumed run stays the same even if files
are added to the folder. In a multi-process run the processes scan a share each
and gather the lists (no process waits on another's scan of the whole folder).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from qdimd.errors import InputError, ProblemLog
from qdimd.files.imagefile import displayed_size, open_image, to_rgb8
from qdimd.io import atomic_write_bytes

from ..images import IMAGE_SUFFIXES, find_images

MAX_DEFAULT_WORKERS = 16
"""Cap of the default data loader worker count per process."""


def decode_photo(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB: the photo scaled to cover ``size`` (aspect kept) and centre-cropped.

    The photo is read as displayed (EXIF orientation applied after the draft decoding, any bit
    depth: :mod:`qdimd.files.imagefile`), as :func:`inpaint.images.load_image` reads it.

    Raises:
        InputError: the file is missing or cannot be decoded (truncated, over the decompression-bomb limit).
    """
    h, w = size
    with open_image(path) as im:
        disp_h, disp_w = displayed_size(im)   # EXIF orientation 5..8 swaps the sides
        scale = max(h / disp_h, w / disp_w)
        if im.format == "JPEG" and scale <= 0.5:   # DCT-domain reduction: 2.5x faster at 1/2 scale
            im.draft("RGB", (math.ceil(im.width * scale), math.ceil(im.height * scale)))
        im = to_rgb8(im)                       # orientation applied, any bit depth
        scale = max(h / im.height, w / im.width)
        if im.size != (w, h):
            box_w, box_h = w / scale, h / scale
            left, top = (im.width - box_w) / 2, (im.height - box_h) / 2
            im = im.resize((w, h), Image.BICUBIC, box=(left, top, left + box_w, top + box_h))
        return np.asarray(im, dtype=np.uint8)


def scan_images(files: Sequence[Path], problems: ProblemLog) -> list[Path]:
    """Files whose image header PIL can read; the others go to ``problems``."""
    good = []
    for path in files:
        try:
            with open_image(path) as im:
                im.size  # noqa: B018 - header only (a truncated body is skipped at use, with a warning)
            good.append(Path(path))
        except InputError as exc:
            problems.add(str(path), None, str(exc).removeprefix(f"{path}: "))
        except Exception as exc:  # PIL raises many kinds for foreign files
            problems.add(str(path), None, f"not a readable image ({type(exc).__name__}: {exc})")
    return good


def _read_scan(cache, root: Path, suffixes: Sequence[str]) -> dict | None:
    """A cached scan of ``root`` (None: no cache, unreadable, or another root or suffixes)."""
    if cache is None or not Path(cache).is_file():
        return None
    try:
        data = json.loads(Path(cache).read_text(encoding="utf-8"))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("root") != str(root) or data.get("suffixes") != list(suffixes):
        return None
    return data


def _warn_changed(root: Path, suffixes: Sequence[str], data: dict) -> None:
    """Warn when photos were added to or removed from ``root`` since the cached scan ``data`` (names only)."""
    now = {_relative(p, root) for p in find_images(root, suffixes)}
    known = set(data["files"]) | {_relative(Path(path), root) for path, _ in data["unreadable"]}
    added, removed = sorted(now - known), sorted(set(data["files"]) - now)
    if added or removed:
        shown = ", ".join([f"+{n}" for n in added[:3]] + [f"-{n}" for n in removed[:3]])
        warnings.warn(f"{root}: {len(added)} added, {len(removed)} removed since this run listed its files "
                      f"({shown}); the run keeps its list of {len(data['files'])} (an exact resume): start a new run "
                      "to use the folder as it is now", stacklevel=3)


def cached_scan(
    root: str | os.PathLike,
    cache: str | os.PathLike | None,
    problems: ProblemLog,
    suffixes: Sequence[str] = IMAGE_SUFFIXES,
    share=None,
) -> list[Path]:
    """Readable image files under ``root`` (recursive, sorted), scanned once and cached.

    Args:
        root: folder (or one file).
        cache: JSON file holding a previous scan of ``root`` (read when it names the same
            root; written otherwise); None scans without caching.
        problems: receives the unreadable files (also when they come from the cache).
        suffixes: file name endings to consider.
        share: a :class:`inpaint.training.distributed.Share` of a multi-process run: the main
            process's cache decides for all, a new scan is split over the processes and
            gathered, the main process writes the cache. None: this process alone.

    Raises:
        InputError: no readable file under ``root``.
    """
    root = Path(root)
    read = lambda: _read_scan(cache, root, suffixes)  # noqa: E731
    data = share.from_main(read) if share is not None else read()
    if data is None:
        files = find_images(root, suffixes)
        scanned = ProblemLog()
        good = scan_images(share.part(files) if share is not None else files, scanned)
        found = [_relative(p, root) for p in good]
        bad = [[p.path, p.reason] for p in scanned.problems]
        if share is not None:   # back in the listing's order
            order = {str(p): i for i, p in enumerate(files)}
            found = sorted(share.gather(found), key=lambda f: order[str(root / f if f else root)])
            bad = sorted(share.gather(bad), key=lambda b: order.get(b[0], -1))
        data = {"root": str(root), "suffixes": list(suffixes), "files": found, "unreadable": bad}
        if cache is not None and (share is None or share.is_main):
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cache, json.dumps(data).encode())
    else:
        _warn_changed(root, suffixes, data)
    for path, reason in data["unreadable"]:
        problems.add(path, None, reason)
    if not data["files"]:
        raise InputError(f"{root}: no readable images")
    return [root / f if f else root for f in data["files"]]


def _relative(path: Path, root: Path) -> str:
    return "" if path == root else path.relative_to(root).as_posix()


def default_workers() -> int:
    """Data loader workers per process: the cores this process may run on, shared among the node's processes.

    ``len(os.sched_getaffinity(0))`` (``os.cpu_count()`` where there is no affinity, e.g. macOS)
    divided by ``$LOCAL_WORLD_SIZE`` (torchrun's processes on this machine), at least 1,
    at most :data:`MAX_DEFAULT_WORKERS`.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        cores = os.cpu_count() or 1
    per_node = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(MAX_DEFAULT_WORKERS, cores // per_node))
