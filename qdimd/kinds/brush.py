"""Free-form brush strokes of DeepFill v2 (Yu et al. 2019, "Free-Form Image Inpainting with Gated
Convolution"), as MAT and CoModGAN also draw them.

What ``brush_stroke_mask`` (``inpaint_ops.py``) and ``RandomBrush`` (MAT, CoModGAN) draw per
stroke: ``U{v_min .. v_max - 1}`` vertices; ``angle_min = 2pi/5 - U(0, 2pi/15)``, ``angle_max =
2pi/5 + U(0, 2pi/15)``; vertex ``k``'s heading ``U(angle_min, angle_max)``, turned to ``2pi - .``
for even ``k`` (a zig-zag); the first vertex a uniform pixel, each next one a step of
``r = clip(N(R, floor(R / 2)), 0, 2R)`` px with ``R = sqrt(H^2 + W^2) / 8``, its coordinates
clipped to ``[0, W] x [0, H]`` and truncated to int; a polyline of width ``int(U(w_min, w_max))``
px with a disc at every vertex.

Deviations (none changes the distribution at square sizes):

* The originals name ``h, w = mask.size`` (PIL's ``(W, H)``), so on a non-square canvas x would
  be drawn from ``[0, H)``; we use the intended ``[0, W)`` and ``[0, H)`` (the same on squares).
* PIL's ``draw.line`` plus ``draw.ellipse`` at the vertices is rendered here as one OpenCV
  thick polyline of thickness ``w - 1`` (OpenCV lines come out 1-2 px wider than their
  thickness; see :func:`qdimd.kinds.records.draw_polylines`), whose segments end in discs (the
  same joints). Not bit-exact: the fidelity benchmark compares hole ratio, components and
  thickness with the original's.
* The originals call ``mask.transpose(FLIP_...)`` and discard the result: no flip, but two
  draws of the global RNG. We draw nothing for it (no effect on any mask).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MEAN_ANGLE = 2 * math.pi / 5
ANGLE_RANGE = 2 * math.pi / 15


@dataclass(frozen=True)
class BrushShape:
    """The per-stroke ranges of a brush (ends exclusive, as ``randint``/``uniform``)."""

    vertices: tuple[int, int]
    width: tuple[float, float]


def sample_brush_strokes(rng: np.random.Generator, n: int, shape: BrushShape, height: int, width: int) -> list:
    """``n`` strokes as ``(width, ((x, y), ...))`` with int px vertices (see the module docstring)."""
    if n <= 0:
        return []
    h, w = height, width
    radius = math.sqrt(h * h + w * w) / 8
    spread, top = radius // 2, 2 * radius
    v_lo, v_hi = shape.vertices
    most = v_hi - 1
    u = rng.random((n, 6 + most))
    # Steps vectorised over all strokes and vertices (unused ones are ignored), the clipped walk in Python.
    a_min = MEAN_ANGLE - u[:, 1:2] * ANGLE_RANGE
    angles = a_min + (MEAN_ANGLE + u[:, 2:3] * ANGLE_RANGE - a_min) * u[:, 6:]
    angles[:, ::2] = 2 * math.pi - angles[:, ::2]
    r = rng.standard_normal((n, most))
    r *= spread
    r += radius
    np.minimum(np.maximum(r, 0.0, out=r), top, out=r)  # np.clip is several times slower on small arrays
    steps_x, steps_y = (r * np.cos(angles)).tolist(), (r * np.sin(angles)).tolist()
    counts = (v_lo + (u[:, 0] * (v_hi - v_lo)).astype(np.int64)).tolist()
    starts_x, starts_y = (u[:, 3] * w).astype(np.int64).tolist(), (u[:, 4] * h).astype(np.int64).tolist()
    widths = (shape.width[0] + (shape.width[1] - shape.width[0]) * u[:, 5]).astype(np.int64).tolist()
    strokes = []
    for count, x, y, dxs, dys, stroke_width in zip(counts, starts_x, starts_y, steps_x, steps_y, widths):
        vertices = [(x, y)]
        for k in range(count):
            fx, fy = x + dxs[k], y + dys[k]
            x = 0 if fx < 0.0 else (w if fx > w else int(fx))
            y = 0 if fy < 0.0 else (h if fy > h else int(fy))
            vertices.append((x, y))
        strokes.append((stroke_width, tuple(vertices)))
    return strokes


def flip_strokes(strokes: list, flip_rows: bool, flip_columns: bool, height: int, width: int) -> list:
    """The strokes of a brush layer flipped upside down and/or left-right (``np.flip`` of the layer)."""
    if not (flip_rows or flip_columns):
        return strokes
    flipped = []
    for stroke_width, vertices in strokes:
        flipped.append((stroke_width, tuple(((width - 1 - x) if flip_columns else x, (height - 1 - y) if flip_rows else y)
                                            for x, y in vertices)))
    return flipped
