"""Image files: finding, loading, resizing and centre-cropping photos; writing images.

Unreadable files are reported by path and skipped by the callers; they never
end a run.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from qdimd.errors import InputError
from qdimd.files.imagefile import open_image, to_rgb8
from qdimd.io import atomic_write_bytes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def find_images(root: str | os.PathLike, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """All image files under ``root`` (recursive), sorted by relative path.

    Raises:
        InputError: ``root`` is missing, or holds no image file.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not files:
        raise InputError(f"{root}: no image files ({', '.join(suffixes)}) found")
    return files


def load_image(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a photo as ``(H, W, 3)`` uint8 RGB, optionally resized and centre-cropped.

    Args:
        path: image file.
        size: ``(H, W)``; the image is scaled so that it covers ``size`` (shorter
            side first, aspect kept), then centre-cropped. ``None`` keeps it as is.

    The photo is read as displayed, at any bit depth (:mod:`qdimd.files.imagefile`: EXIF
    orientation applied, 16-bit scaled, transparency over black).

    Raises:
        InputError: the file is missing, unreadable, truncated or over PIL's decompression-bomb limit.
    """
    with open_image(path) as im:
        im = to_rgb8(im)
        if size is not None:
            im = cover_resize(im, size)
        return np.asarray(im, dtype=np.uint8)


def cover_resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale ``im`` to cover ``(H, W)`` keeping its aspect, then centre-crop to exactly that."""
    h, w = size
    scale = max(h / im.height, w / im.width)
    new_w, new_h = max(w, round(im.width * scale)), max(h, round(im.height * scale))
    if (new_w, new_h) != im.size:
        im = im.resize((new_w, new_h), Image.BICUBIC)
    left, top = (new_w - w) // 2, (new_h - h) // 2
    return im.crop((left, top, left + w, top + h))


def load_images(paths: Iterable[Path], size: tuple[int, int] | None, problems=None):
    """Yield ``(path, image)`` for readable files; unreadable ones go to ``problems`` (a ProblemLog)."""
    for path in paths:
        try:
            yield path, load_image(path, size)
        except InputError as exc:
            if problems is None:
                raise
            problems.add(str(path), None, str(exc).split(": ", 1)[-1])


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``(H, W, 3)`` uint8 atomically, creating the folder; the format follows the suffix (PNG if unknown)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fmt = OUTPUT_FORMATS.get(path.suffix.lower(), "PNG")
    Image.fromarray(image).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    atomic_write_bytes(path, buffer.getvalue())
