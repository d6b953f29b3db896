"""Shared plumbing of the mask kinds: JSON round trips of frozen records, canvases, drawing, size checks.

Every kind's parameter record is a frozen dataclass whose fields are ints, floats, strings or
(nested) tuples of them; :func:`record_to_dict` and :func:`record_from_dict` turn one into a
JSON-able dict and back exactly (floats survive JSON; lists become tuples again).
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, Sequence, TypeVar

import cv2
import numpy as np

T = TypeVar("T")

MAX_TRIES = 1000
"""Draws of a rejection-sampled kind before it gives up with a ValueError (an impossible option combination)."""


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


def record_to_dict(record: Any) -> dict[str, Any]:
    """JSON-able dict of a frozen record (tuples become lists)."""
    return {f.name: _plain(getattr(record, f.name)) for f in fields(record)}


def record_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Inverse of :func:`record_to_dict`.

    Raises:
        ValueError: unknown or missing keys, or values the record rejects.
    """
    if not is_dataclass(cls) or not isinstance(data, dict):
        raise ValueError(f"Expected a dict for {cls.__name__}, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"Expected {cls.__name__} keys from {sorted(known)}, got unknown {sorted(unknown)}")
    try:
        return cls(**{k: _tupled(v) for k, v in data.items()})
    except TypeError as exc:
        raise ValueError(f"Expected a complete {cls.__name__} record, got {data!r} ({exc})") from None


def check_size(height: int, width: int) -> tuple[int, int]:
    """``(H, W)`` as ints >= 1."""
    h, w = int(height), int(width)
    if h < 1 or w < 1:
        raise ValueError(f"Expected H, W >= 1, got {height}x{width}")
    return h, w


def check_range(name: str, value: Sequence[float], low: float, high: float | None = None,
                integer: bool = False) -> tuple:
    """``(lo, hi)`` with ``low <= lo <= hi (<= high)``, as ints when ``integer``."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"Expected {name} as (lo, hi), got {value!r}") from None
    if integer:
        if int(lo) != lo or int(hi) != hi:
            raise ValueError(f"Expected integer {name}, got {value!r}")
        lo, hi = int(lo), int(hi)
    else:
        lo, hi = float(lo), float(hi)
    if not (low <= lo <= hi and (high is None or hi <= high)):
        bound = "" if high is None else f" <= {high}"
        raise ValueError(f"Expected {name} (lo, hi) with {low} <= lo <= hi{bound}, got {value!r}")
    return lo, hi


def draw_polylines(canvas: np.ndarray, strokes: Sequence[tuple[int, Sequence[Sequence[int]]]]) -> np.ndarray:
    """Draw ``(width, ((x, y), ...))`` brush strokes (round caps and joins) as 1 into a uint8 canvas.

    PIL's ``line(width=w)`` (what the originals draw) is exactly ``w`` px wide; an OpenCV line of
    thickness ``t`` is ``t + 1`` (even ``t``) or ``t + 2`` px wide, so we draw thickness ``w - 1``.
    On random strokes this gives 0.99 of PIL's area (thickness ``w``: 1.02) at an IoU of 0.98.
    """
    for width, vertices in strokes:
        points = np.asarray(vertices, dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [points], False, 1, max(1, int(width) - 1))
    return canvas


def fill_boxes(canvas: np.ndarray, boxes: Sequence[Sequence[int]]) -> np.ndarray:
    """Set ``(top, left, bottom, right)`` boxes (exclusive ends, clipped to the canvas) to 1."""
    for top, left, bottom, right in boxes:
        canvas[max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)] = 1
    return canvas


def as_hole(canvas: np.ndarray) -> np.ndarray:
    """A 0/1 uint8 canvas as ``(H, W)`` bool, True = hole (a view, no copy)."""
    return canvas.view(np.bool_)


def canvas_of(height: int, width: int, out: np.ndarray | None = None) -> np.ndarray:
    """A cleared ``(H, W)`` uint8 canvas: ``out`` (bool or uint8, C-contiguous) viewed as uint8, or a new one."""
    size = check_size(height, width)
    if out is None:
        return np.zeros(size, np.uint8)
    if out.shape != size or out.dtype not in (np.bool_, np.uint8) or not out.flags.c_contiguous:
        raise ValueError(f"Expected out of shape {size}, bool or uint8, C-contiguous; got {out.shape} {out.dtype}")
    canvas = out.view(np.uint8)
    canvas.fill(0)
    return canvas
