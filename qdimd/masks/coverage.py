"""The geometric steps of targeted generation (:mod:`qdimd.masks.targeted`): stroke geometry with lengths,
the coverage model, fitting strokes into a box, extra strokes, and cheap checks on rendered masks.

Coverage model: strokes of total drawn area ``S`` (without overlaps) scattered
over an area ``A`` cover about ``1 - exp(-gamma * S / A)`` of it (a Poisson
coverage law, ``gamma`` calibrated per target). For a record whose widths are
scaled by ``k``, ``S(k) = a k^2 + b k`` with ``a = sum(pi w_s^2 / 4)`` (caps and
dots) and ``b = sum(L_s w_s)`` (``L_s`` = length of stroke ``s`` inside ``A``),
so the ``k`` for a wanted coverage solves a quadratic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .generator import MaskConfig, MaskParams, stroke_geometry

if TYPE_CHECKING:  # pragma: no cover
    from ..strokes.store import StrokeStore

Box = tuple[int, int, int, int]
"""``(top, left, bottom, right)``, bottom/right exclusive."""


@dataclass(frozen=True)
class Geometry:
    """A record with its output-px polylines.

    Attributes:
        params: the record (widths as stored, before any scale ``k``).
        points: ``(P, 2)`` float64 x, y of all strokes (one-point strokes doubled).
        counts: ``(S,)`` int64 points per stroke.
        lengths: ``(S,)`` float64 length of each stroke inside the drawable box.
        widths: ``(S,)`` float64 the record's widths.
    """

    params: MaskParams
    points: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray
    widths: np.ndarray


def geometry_of(params: MaskParams, config: MaskConfig, store: "StrokeStore", box: Box) -> Geometry:
    """Polylines of ``params`` exactly as :func:`qdimd.masks.generator.render_mask` draws them, and stroke lengths."""
    points, counts, _, _ = stroke_geometry([params], config, store)
    top, left, bottom, right = box
    d = points[1:] - points[:-1]
    mid2 = points[1:] + points[:-1]  # twice the segment midpoints
    inside = (mid2[:, 0] >= 2 * left) & (mid2[:, 0] <= 2 * right) & (mid2[:, 1] >= 2 * top) & (mid2[:, 1] <= 2 * bottom)
    seg = np.empty(len(points))
    np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1], out=seg[:-1])
    seg[:-1] *= inside
    seg[-1] = 0.0
    starts = np.cumsum(counts) - counts
    seg[starts[1:] - 1] = 0.0  # the gaps between strokes
    return Geometry(params, points, counts, np.add.reduceat(seg, starts), np.asarray(params.widths, np.float64))


def join_geometry(geo: Geometry, more: Geometry) -> Geometry:
    """``geo``'s strokes followed by ``more``'s (same transform, clip box and augmentation)."""
    p, q = geo.params, more.params
    params = replace(p, drawings=p.drawings + q.drawings, strokes=p.strokes + q.strokes, widths=p.widths + q.widths)
    return Geometry(
        params, np.concatenate([geo.points, more.points]), np.concatenate([geo.counts, more.counts]),
        np.concatenate([geo.lengths, more.lengths]), np.concatenate([geo.widths, more.widths]),
    )


def truncate_geometry(geo: Geometry, keep: int) -> Geometry:
    """The first ``keep`` strokes of ``geo``."""
    p = geo.params
    params = replace(p, drawings=p.drawings[:keep], strokes=p.strokes[:keep], widths=p.widths[:keep])
    n_points = int(geo.counts[:keep].sum())
    return Geometry(params, geo.points[:n_points], geo.counts[:keep], geo.lengths[:keep], geo.widths[:keep])


def area_terms(geo: Geometry) -> tuple[float, float]:
    """``(a, b)`` of the drawn area without overlaps ``S(k) = a k^2 + b k`` in px."""
    drawn = geo.widths * geo.params.upscale
    return float(np.sum(np.pi * drawn**2 / 4.0)), float(np.dot(geo.lengths, drawn))


def coverage_y(ratio: float, share: float) -> float:
    """The model's ``y = -log(1 - ratio / share)`` (``share`` = drawable part of the image), capped."""
    return -math.log(max(1e-6, 1.0 - min(ratio / share, 0.995)))


def width_scale_for(a: float, b: float, gamma: float, y: float, area: float) -> float:
    """The ``k`` with ``gamma * S(k) / area = y``."""
    need = y * area / gamma
    if a <= 0:
        return need / b if b > 0 else 1.0
    return (-b + math.sqrt(b * b + 4.0 * a * need)) / (2.0 * a)


def measured_gamma(ratio: float, share: float, a: float, b: float, k: float, area: float) -> float | None:
    """``gamma`` that makes the model match a measured ratio at ``k`` (None when uninformative)."""
    r_in = ratio / share
    drawn = (a * k * k + b * k) / area
    if not 0.0 < r_in < 0.995 or drawn <= 0:
        return None
    return -math.log(1.0 - r_in) / drawn


def fit_into_box(params: MaskParams, config: MaskConfig, store: "StrokeStore", box: Box) -> MaskParams:
    """Shrink (``upscale``) and translate (``offset``) the strokes' bounding box into ``box``.

    A margin of the mean stroke radius is kept (at most 1/8 of the box), so at the
    sampled widths strokes are not cut by a clip box equal to ``box``.
    """
    h, w = config.size
    top, left, bottom, right = box
    starts, points = np.asarray(store.stroke_starts), np.asarray(store.points)  # plain views: fast slicing
    qd = np.concatenate([points[starts[s]:starts[s + 1]] for s in params.strokes])
    (x0, y0), (x1, y1) = qd.min(axis=0).tolist(), qd.max(axis=0).tolist()  # in 0..255
    # positions relative to the centre before the upscale (see qdimd.masks.generator)
    px0, px1 = (x0 + 0.5) * w / 256.0 - w / 2.0, (x1 + 0.5) * w / 256.0 - w / 2.0
    py0, py1 = (y0 + 0.5) * h / 256.0 - h / 2.0, (y1 + 0.5) * h / 256.0 - h / 2.0
    inner_w, inner_h = right - left, bottom - top
    radius = 0.5 * sum(params.widths) / len(params.widths) * params.upscale
    pad_x, pad_y = min(radius, inner_w / 8.0), min(radius, inner_h / 8.0)
    upscale = min(params.upscale, (inner_w - 2 * pad_x) / max(px1 - px0, 1e-9), (inner_h - 2 * pad_y) / max(py1 - py0, 1e-9))

    def shift(size: float, p0: float, p1: float, low: float, high: float, pad: float) -> float:
        centre, half = size / 2.0 + (p0 + p1) / 2.0 * upscale, (p1 - p0) / 2.0 * upscale
        lo_c, hi_c = low + pad + half, high - pad - half
        return min(max(centre, lo_c), max(lo_c, hi_c)) - centre

    dx = shift(w, px0, px1, left, right, pad_x)
    dy = shift(h, py0, py1, top, bottom, pad_y)
    return replace(params, upscale=float(upscale), offset=(float(dy), float(dx)))


def sample_extra_strokes(
    rng: np.random.Generator, m: int, pool: np.ndarray, store: "StrokeStore", config: MaskConfig,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[float, ...]]:
    """``m`` strokes drawn like Algorithm 1's: a uniform drawing of ``pool``, a uniform stroke in it, a
    uniform width. Returns ``(drawings, strokes, widths)``."""
    u = rng.random(3 * m)
    drawing_starts = np.asarray(store.drawing_starts)
    drawings = pool[(u[:m] * len(pool)).astype(np.int64)]
    first = drawing_starts[drawings]
    strokes = first + (u[m:2 * m] * (drawing_starts[drawings + 1] - first)).astype(np.int64)
    scale = min(config.size) / config.reference_size
    widths = (config.width_min + (config.width_max - config.width_min) * u[2 * m:]) * scale
    return tuple(drawings.tolist()), tuple(strokes.tolist()), tuple(widths.tolist())


def near_edge(hole: np.ndarray, band: int) -> bool:
    """Whether some hole lies in the ``band`` px next to an edge, i.e. ``border_distance(hole) < band``
    for a non-empty mask (only the edge bands are scanned)."""
    if band <= 0:
        return False
    h, w = hole.shape
    return bool(
        hole[:band].any() or hole[max(0, h - band):].any() or hole[:, :band].any() or hole[:, max(0, w - band):].any()
    )


def inset_clip_box(hole: np.ndarray, box: Box, lo: float, hi: float, max_inset: int) -> Box | None:
    """The box moved in by the fewest whole px (at most ``max_inset``) that leaves a hole ratio in
    ``(lo, hi]`` inside it, or None; computed from one integral image, without rendering again."""
    top, left, bottom, right = box
    t = np.arange(1, max(1, max_inset) + 1)
    t = t[(top + t < bottom - t) & (left + t < right - t)]
    if t.size == 0:
        return None
    ii = cv2.integral(hole.view(np.uint8))  # (H + 1, W + 1) running sums
    counts = ii[bottom - t, right - t] - ii[top + t, right - t] - ii[bottom - t, left + t] + ii[top + t, left + t]
    ratios = counts / hole.size
    ok = np.flatnonzero((ratios > lo) & (ratios <= hi))
    if ok.size == 0:
        return None
    d = int(t[ok[0]])
    return top + d, left + d, bottom - d, right - d
