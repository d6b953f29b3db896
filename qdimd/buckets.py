"""Hole-to-image area ratios, border distances and the papers' buckets.

The buckets are those of the Partial Convolutions test set (Liu et al. 2018),
also used by Iskakov 2018: (0.01,0.1], (0.1,0.2], ..., (0.5,0.6]. The border
constraint is the NVIDIA test set's: every hole at least 50 px from the border
at 512x512, scaled with the image (see :func:`default_margin`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_EDGES: tuple[float, ...] = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
GROUPS: tuple[str, str] = ("noborder", "border")
"""``noborder``: every hole at least the margin from the border; ``border``: some hole within it."""


def hole_ratio(hole: np.ndarray) -> float:
    """Fraction of hole pixels.

    Args:
        hole: ``(H, W)`` bool, True = missing pixel.
    """
    hole = np.asarray(hole)
    return float(np.count_nonzero(hole)) / float(hole.size)


def border_distance(hole: np.ndarray) -> int:
    """Whole rows or columns at the nearest image edge that hold no hole pixel.

    ``min(top, left, bottom, right)`` empty margins; 0 when a hole touches an
    edge. A mask without holes returns ``min(H, W)``.

    Args:
        hole: ``(H, W)`` bool, True = missing pixel.
    """
    hole = np.asarray(hole)
    if hole.ndim != 2:
        raise ValueError(f"Expected a 2-D hole mask, got shape {hole.shape}")
    return min(edge_margins(hole))


def edge_margins(hole: np.ndarray) -> tuple[int, int, int, int]:
    """Empty rows/columns at the (top, left, bottom, right) edges of a ``(H, W)`` hole mask;
    ``(H, W, H, W)`` for a mask without holes."""
    h, w = hole.shape
    rows = np.flatnonzero(hole.any(axis=1))
    if rows.size == 0:
        return h, w, h, w
    cols = np.flatnonzero(hole.any(axis=0))
    return int(rows[0]), int(cols[0]), int(h - 1 - rows[-1]), int(w - 1 - cols[-1])


def bucket_of(ratio: float, edges: Sequence[float] = DEFAULT_EDGES) -> int:
    """Bucket number of a hole ratio: 1 for ``(edges[0], edges[1]]``, ...; 0 outside every bucket."""
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"Expected at least two strictly increasing edges, got {tuple(edges)}")
    if ratio <= edges[0] or ratio > edges[-1]:
        return 0
    return int(np.searchsorted(np.asarray(edges), ratio, side="left"))


def default_margin(height: int, width: int) -> int:
    """The NVIDIA 50 px-at-512 border margin scaled to the image: ``round(50 * min(H, W) / 512)``."""
    return int(round(50 * min(height, width) / 512))


def group_of(distance: int, margin: int) -> str:
    """``noborder`` when every hole is at least ``margin`` px from the border, else ``border``."""
    return GROUPS[0] if distance >= margin else GROUPS[1]


def bucket_range(bucket: int, edges: Sequence[float] = DEFAULT_EDGES) -> tuple[float, float]:
    """The ``(lo, hi]`` ratio range of bucket number ``bucket`` (1-based)."""
    if not 1 <= bucket < len(edges):
        raise ValueError(f"Expected a bucket in 1..{len(edges) - 1}, got {bucket}")
    return float(edges[bucket - 1]), float(edges[bucket])
