"""Decoding one image file as it is displayed, at any bit depth, as 8-bit grey or RGB.

Every command that reads photos (:func:`inpaint.images.load_image`, the training
loader) or masks (:func:`qdimd.io.load_gray`, :func:`qdimd.files.maskfiles.decode_gray`)
decodes through :func:`open_image` and :func:`to_rgb8` / :func:`to_gray8`, so they
all see the same pixels:

* EXIF orientation is applied (``PIL.ImageOps.exif_transpose``): a photo shot
  upright on a phone, and a mask drawn on it as displayed, line up.
* 16-bit (``I;16*``) and 32-bit integer (``I``) grey are scaled to 8 bits
  (``v * 255 / 65535``; an ``I`` image whose values all fit 0..255 is kept as it
  is); float (``F``) images are taken as 0..1 when no value exceeds 1, else as
  0..255, and clipped. 16-bit RGB PNGs are read by PIL at 8 bits per channel.
* Transparency (``RGBA``, ``LA``, ``PA``, palette transparency) is composited
  over black, so a mask painted opaque on a transparent layer reads as holes on
  black; palette, ``CMYK``, ``YCbCr``, ``1`` and the other modes are converted by PIL.

Every failure is an :class:`qdimd.errors.InputError` naming the file: missing,
a folder, empty, not an image, truncated or corrupt (detected when the pixels
are decoded, not only from the header), or larger than PIL's decompression-bomb
limit (``2 * PIL.Image.MAX_IMAGE_PIXELS`` pixels, about 179 M): folder commands
skip and report such files, single-file commands stop with that message.
"""
from __future__ import annotations

import io
import os
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError

ImageSource = Union[str, os.PathLike, bytes, io.IOBase]

_TRANSPOSED = (5, 6, 7, 8)
"""EXIF orientations that swap width and height."""


def _name(source: ImageSource, name: str | None) -> str:
    if name is not None:
        return name
    return str(source) if isinstance(source, (str, os.PathLike)) else "<image bytes>"


@contextmanager
def open_image(source: ImageSource, name: str | None = None) -> Iterator[Image.Image]:
    """``PIL.Image.open`` with every failure, also inside the ``with`` body, turned into an InputError.

    Args:
        source: a path, the file's bytes, or a binary file object.
        name: how messages name the file (default: the path).

    Raises:
        InputError: the file is missing, a folder, empty, not an image, truncated or corrupt,
            or over PIL's decompression-bomb limit; the message starts with the name.
    """
    name = _name(source, name)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise InputError(f"{name}: empty file")
        source = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise InputError(f"{name}: a folder, not an image file")
        if path.is_file() and path.stat().st_size == 0:
            raise InputError(f"{name}: empty file")
    try:
        with Image.open(source) as im:
            yield im
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"{name}: too large to decode safely ({exc}); a decompression bomb, or raise "
                         "PIL.Image.MAX_IMAGE_PIXELS if you trust it") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not a readable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        # PIL raises all of these for truncated or corrupt data (OSError "image file is truncated", ...)
        raise InputError(f"{name}: not a readable image ({exc})") from None


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1..8) of ``im``; 1 when absent or unreadable."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block must not make the image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def displayed_size(im: Image.Image) -> tuple[int, int]:
    """``(H, W)`` of ``im`` as displayed (EXIF orientations 5..8 swap the sides)."""
    return (im.width, im.height) if exif_orientation(im) in _TRANSPOSED else (im.height, im.width)


def as_displayed(im: Image.Image) -> Image.Image:
    """``im`` (loaded) with its EXIF orientation applied, in an 8-bit mode: ``L``, ``RGB`` or ``RGBA``-free.

    Returns an ``L`` image for grey sources (``1``, ``L``, ``LA``, ``I``, ``I;16*``, ``F``) and an
    ``RGB`` image otherwise; transparency is composited over black.
    """
    im.load()
    if exif_orientation(im) != 1:
        im = ImageOps.exif_transpose(im)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return Image.fromarray(_scale_to_8bit(im), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "1":
        im = im.convert("L")
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        grey = im.mode in ("LA", "La")
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im).convert("L" if grey else "RGB")
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return im


def _scale_to_8bit(im: Image.Image) -> np.ndarray:
    values = np.asarray(im)
    if im.mode == "F":
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    values = values.astype(np.int64)
    if im.mode == "I" and (not values.size or (values.min() >= 0 and values.max() <= 255)):
        return values.astype(np.uint8)
    return np.clip((values * 255 + 32767) // 65535, 0, 255).astype(np.uint8)


def to_rgb8(im: Image.Image) -> Image.Image:
    """``im`` as displayed, mode ``RGB`` (see :func:`as_displayed`)."""
    im = as_displayed(im)
    return im if im.mode == "RGB" else im.convert("RGB")


def to_gray8(im: Image.Image) -> Image.Image:
    """``im`` as displayed, mode ``L`` (ITU-R 601 luma for colour sources, as ``convert("L")``)."""
    im = as_displayed(im)
    return im if im.mode == "L" else im.convert("L")


def read_gray8(source: ImageSource, name: str | None = None) -> np.ndarray:
    """The whole file decoded as ``(H, W)`` uint8 grey as displayed (no mask check: see
    :func:`qdimd.files.maskfiles.decode_gray`).

    Raises:
        InputError: see :func:`open_image`.
    """
    with open_image(source, name) as im:
        return np.asarray(to_gray8(im), dtype=np.uint8)


__all__ = ["as_displayed", "displayed_size", "exif_orientation", "open_image", "read_gray8", "to_gray8", "to_rgb8"]
