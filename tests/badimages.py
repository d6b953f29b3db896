"""Bad and unusual image files made on the fly (issue 18): 16-bit, EXIF-rotated, truncated, bomb-sized."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def save_png16_gray(path: Path, gray8: np.ndarray) -> np.ndarray:
    """``gray8`` (uint8) stored as a 16-bit greyscale PNG (``v * 257``); returns the uint16 array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = gray8.astype(np.uint16) * np.uint16(257)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I;16")
    return values


def save_png16_rgb(path: Path, rgb8: np.ndarray) -> None:
    """``rgb8`` (uint8, RGB) stored as a 48-bit (16 bits per channel) PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), (rgb8.astype(np.uint16) * np.uint16(257))[..., ::-1])


def save_exif_rotated_jpeg(path: Path, shown: np.ndarray, orientation: int = 6) -> None:
    """A JPEG whose pixels are stored so that a viewer applying EXIF ``orientation`` 6 (rotate 90 degrees
    clockwise to display) shows ``shown``; stored = ``shown`` rotated 90 degrees counter-clockwise."""
    assert orientation == 6
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = np.ascontiguousarray(np.rot90(shown, 1))
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, quality=95, exif=exif.tobytes())


def truncate(path: Path, keep: float = 0.6) -> Path:
    """Cut ``path`` to ``keep`` of its bytes (the header stays readable)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def save_bomb_png(path: Path, side: int = 30000) -> Path:
    """A tiny file whose PNG header claims ``side`` x ``side`` grey pixels (a decompression bomb's header)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (side + 1) * 4)  # a few rows; PIL refuses before reading them
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path
