"""MAT's and CoModGAN's masks: rectangles plus free-form brush strokes, redrawn until the hole
ratio lies in ``hole_range`` (Li et al. 2022, "MAT: Mask-Aware Transformer for Large Hole Image
Inpainting", ``datasets/mask_generator_*.py`` ``RandomMask``; Zhao et al. 2021, CoModGAN,
``training/mask_generator.py``, the same generator with larger counts).

What ``RandomMask(s, hole_range)`` draws, with ``c = min(lo + hi, 1)``:

* ``U{0 .. int(a * c) - 1}`` boxes of sides ``U{0 .. s//2 - 1}``, then ``U{0 .. int(b * c) - 1}``
  of sides ``U{0 .. s - 1}``; a box of width ``w`` has its left edge ``U{-w//2 .. s - w + w//2 - 1}``
  (boxes may hang over the border and are cut there); the same for heights;
* a brush layer of ``U{0 .. int(k * c) - 1}`` strokes (:mod:`qdimd.kinds.brush`: 4..17
  vertices, widths ``int(U(12, 48))`` px), flipped upside down and left-right each with
  probability 1/2;
* the mask is kept when ``lo < hole ratio < hi``, else everything is redrawn.

``(a, b, k)`` per variant: MAT 512 ``(5, 3, 9)``, 256 ``(4, 2, 8)``, 512-small ``(3, 2, 4)``,
256-small ``(2, 2, 3)``; CoModGAN ``(10, 5, 20)``. ``variant="auto"`` takes MAT's 256 file
below a short side of 384 px, else the 512 one. Other sizes: box sides use ``W`` and ``H``
per axis, the brush radius the diagonal; widths stay in px, as in the originals (which use the
same widths at 256 and 512).

Kept: the count scaling by ``c`` (a narrow range near 0 draws fewer shapes) and the strict
inequalities (an empty mask is never accepted with the default range). Changed: where
``int(a * c)`` is 0 the originals crash (``randint(0)``); we draw no shape of that group, and
where no group can draw a shape (e.g. ``hole_range=(0, 0.1)``) we raise a ValueError.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .brush import BrushShape, flip_strokes, sample_brush_strokes
from .records import MAX_TRIES, as_hole, canvas_of, check_range, check_size, draw_polylines, fill_boxes

__all__ = ["MAT_VARIANTS", "MatOptions", "MatParams", "mat_counts", "render_mat", "sample_mat_params"]

MAT_VARIANTS: dict[str, tuple[int, int, int]] = {
    "512": (5, 3, 9), "256": (4, 2, 8), "512-small": (3, 2, 4), "256-small": (2, 2, 3), "comodgan": (10, 5, 20),
}
BRUSH = BrushShape(vertices=(4, 18), width=(12.0, 48.0))


@dataclass(frozen=True)
class MatOptions:
    """Options of the ``mat`` and ``comodgan`` kinds.

    Args:
        hole_range: ``(lo, hi)``: masks have ``lo < hole ratio < hi``; also scales the counts.
        variant: ``"auto"`` or a key of :data:`MAT_VARIANTS` (the ``comodgan`` kind is ``"comodgan"``).
    """

    hole_range: tuple[float, float] = (0.0, 1.0)
    variant: str = "auto"

    def __post_init__(self) -> None:
        lo, hi = check_range("hole_range", self.hole_range, 0.0, 1.0)
        if lo >= hi:
            raise ValueError(f"Expected hole_range with lo < hi, got {self.hole_range!r}")
        object.__setattr__(self, "hole_range", (lo, hi))
        if self.variant != "auto" and self.variant not in MAT_VARIANTS:
            raise ValueError(f"Expected variant 'auto' or one of {sorted(MAT_VARIANTS)}, got {self.variant!r}")


@dataclass(frozen=True)
class MatParams:
    """One MAT/CoModGAN mask.

    Attributes:
        boxes: ``(top, left, bottom, right)``, exclusive ends, possibly beyond the canvas (cut).
        strokes: ``(width, ((x, y), ...))`` brush strokes, already flipped.
        tries: draws until the ratio fell in the range.
    """

    boxes: tuple[tuple[int, int, int, int], ...] = ()
    strokes: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = ()
    tries: int = 1


def mat_counts(options: MatOptions, height: int, width: int) -> tuple[str, tuple[int, int, int]]:
    """``(variant, (small boxes, large boxes, strokes))``: the resolved variant and its counts scaled by
    ``min(lo + hi, 1)``; shapes are drawn ``U{0 .. count - 1}``, so a count below 2 draws none."""
    variant = options.variant
    if variant == "auto":
        variant = "256" if min(height, width) < 384 else "512"
    coef = min(options.hole_range[0] + options.hole_range[1], 1.0)
    return variant, tuple(int(v * coef) for v in MAT_VARIANTS[variant])


def _boxes(rng: np.random.Generator, tries: int, side_h: int, side_w: int, h: int, w: int) -> list:
    if tries <= 0:
        return []
    n = int(rng.random() * tries)
    boxes = []
    for u_w, u_h, u_x, u_y in rng.random((n, 4)).tolist():
        bw, bh = int(u_w * side_w), int(u_h * side_h)
        x = -(bw // 2) + int(u_x * (w - bw + 2 * (bw // 2)))
        y = -(bh // 2) + int(u_y * (h - bh + 2 * (bh // 2)))
        boxes.append((y, x, y + bh, x + bw))
    return boxes


def sample_mat_params(rng: np.random.Generator, height: int, width: int, options: MatOptions = MatOptions(),
                      *, out: np.ndarray | None = None) -> MatParams:
    """Draw one mask (redrawn until its ratio lies strictly inside ``options.hole_range``).

    Args:
        out: optional ``(H, W)`` bool array that receives the mask (rendered to check the ratio anyway).

    Returns:
        The record.

    Raises:
        ValueError: no mask in range within :data:`qdimd.kinds.records.MAX_TRIES` draws.
    """
    h, w = check_size(height, width)
    variant, (small, large, brushes) = mat_counts(options, h, w)
    lo, hi = options.hole_range
    if max(small, large, brushes) < 2:  # U{0 .. n - 1} shapes: n <= 1 draws none
        raise ValueError(f"Expected hole_range with lo + hi >= {2 / max(MAT_VARIANTS[variant]):.3f} for variant {variant} "
                         f"(below, MAT draws no shape; the original crashes), got {options.hole_range}")
    size = h * w
    for tries in range(1, MAX_TRIES + 1):
        boxes = _boxes(rng, small, h // 2, w // 2, h, w) + _boxes(rng, large, h, w, h, w)
        n = int(rng.random() * brushes) if brushes > 0 else 0
        strokes = sample_brush_strokes(rng, n, BRUSH, h, w)
        flip_rows, flip_columns = (rng.random(2) > 0.5).tolist()
        params = MatParams(boxes=tuple(boxes), strokes=tuple(flip_strokes(strokes, flip_rows, flip_columns, h, w)),
                           tries=tries)
        if out is None:
            out = np.empty((h, w), np.uint8)
        holes = np.count_nonzero(render_mat(params, h, w, out=out))
        if lo * size < holes < hi * size:
            return params
    raise ValueError(f"Expected a mask with hole ratio in {options.hole_range} at {h}x{w} within {MAX_TRIES} draws, "
                     "got none (widen hole_range)")


def render_mat(params: MatParams, height: int, width: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W)`` bool hole (True = hole) of a record (drawn into ``out`` if given)."""
    canvas = fill_boxes(canvas_of(height, width, out), params.boxes)
    return as_hole(draw_polylines(canvas, params.strokes))
