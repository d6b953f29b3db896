"""DeepFill v2's free-form masks (Yu et al. 2019, ``inpaint_ops.py`` ``brush_stroke_mask``).

``U{1..3}`` brush strokes (:mod:`qdimd.kinds.brush`: 4..11 vertices, widths ``int(U(12, 40))``
px, step radius from the diagonal), at any size with the same px widths (as the original,
which takes the size from its flags). DeepFill v2 trains on this brush OR a random box
(``bbox2mask``); the kind is the brush alone, as the papers that cite "DeepFill v2 free-form
masks" use it. The original's final ``transpose(FLIP_...)`` results are discarded (no flip):
we draw no flip either.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .brush import BrushShape, sample_brush_strokes
from .records import as_hole, canvas_of, check_size, draw_polylines

__all__ = ["DeepfillOptions", "DeepfillParams", "render_deepfill", "sample_deepfill_params"]

BRUSH = BrushShape(vertices=(4, 12), width=(12.0, 40.0))


@dataclass(frozen=True)
class DeepfillOptions:
    """The ``deepfill`` kind has no options (its constants are DeepFill v2's)."""


@dataclass(frozen=True)
class DeepfillParams:
    """One DeepFill v2 mask: ``(width, ((x, y), ...))`` brush strokes."""

    strokes: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = ()
    tries: int = 1


def sample_deepfill_params(rng: np.random.Generator, height: int, width: int,
                           options: DeepfillOptions = DeepfillOptions()) -> DeepfillParams:
    """Draw one mask's strokes."""
    h, w = check_size(height, width)
    n = 1 + int(rng.random() * 3)
    return DeepfillParams(strokes=tuple(sample_brush_strokes(rng, n, BRUSH, h, w)))


def render_deepfill(params: DeepfillParams, height: int, width: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W)`` bool hole (True = hole) of a record (drawn into ``out`` if given)."""
    return as_hole(draw_polylines(canvas_of(height, width, out), params.strokes))
