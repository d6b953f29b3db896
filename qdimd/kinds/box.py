"""Box masks: one or more axis-aligned rectangles (the classic "centre/random box" protocol,
e.g. Pathak et al. 2016 and the ``bbox2mask`` of DeepFill).

``U{count_lo .. count_hi}`` boxes; each side ``U(size_lo, size_hi)`` times the image side
(rounded, at least 1 px), placed uniformly so the box lies fully inside the image.
``count=(1, 1), size=(0.5, 0.5)`` with ``center=True`` is the centre square of half the side.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .records import as_hole, canvas_of, check_range, check_size, fill_boxes

__all__ = ["BoxOptions", "BoxParams", "render_box", "sample_box_params"]


MAX_BOXES = 100
"""Boxes per mask at most (more cover any image; 100,000 boxes at 8192 px took minutes per mask)."""


@dataclass(frozen=True)
class BoxOptions:
    """Options of the ``box`` kind.

    Args:
        count: ``(lo, hi)`` boxes per mask, inclusive, at most :data:`MAX_BOXES`.
        size: ``(lo, hi)`` side as a share of the image side (0, 1].
        center: boxes centred in the image instead of placed at random.
    """

    count: tuple[int, int] = (1, 1)
    size: tuple[float, float] = (0.25, 0.5)
    center: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "count", check_range("count", self.count, 1, MAX_BOXES, integer=True))
        lo, hi = check_range("size", self.size, 0.0, 1.0)
        if lo <= 0:
            raise ValueError(f"Expected size (lo, hi) with 0 < lo, got {self.size!r}")
        object.__setattr__(self, "size", (lo, hi))
        if not isinstance(self.center, bool):
            raise ValueError(f"Expected center True or False, got {self.center!r}")


@dataclass(frozen=True)
class BoxParams:
    """One box mask: ``(top, left, bottom, right)`` boxes, exclusive ends."""

    boxes: tuple[tuple[int, int, int, int], ...] = ()
    tries: int = 1


def sample_box_params(rng: np.random.Generator, height: int, width: int, options: BoxOptions = BoxOptions()) -> BoxParams:
    """Draw one mask's boxes."""
    h, w = check_size(height, width)
    (c_lo, c_hi), (s_lo, s_hi) = options.count, options.size
    n = c_lo + int(rng.random() * (c_hi - c_lo + 1))
    boxes = []
    for u_h, u_w, u_y, u_x in rng.random((n, 4)).tolist():
        bh = min(h, max(1, round(h * (s_lo + (s_hi - s_lo) * u_h))))
        bw = min(w, max(1, round(w * (s_lo + (s_hi - s_lo) * u_w))))
        if options.center:
            y, x = (h - bh) // 2, (w - bw) // 2
        else:
            y, x = int(u_y * (h - bh + 1)), int(u_x * (w - bw + 1))
        boxes.append((y, x, y + bh, x + bw))
    return BoxParams(boxes=tuple(boxes))


def render_box(params: BoxParams, height: int, width: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W)`` bool hole (True = hole) of a record (drawn into ``out`` if given)."""
    return as_hole(fill_boxes(canvas_of(height, width, out), params.boxes))
