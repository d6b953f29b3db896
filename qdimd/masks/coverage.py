"""The geometric steps of targeted generation (:mod:`qdimd.masks.targeted`): stroke geometry with lengths,
the coverage model, fitting strokes into a box, more or fewer strokes, and cheap checks on rendered masks.

A record's geometry is always computed from all its strokes: in mask version 2 the
placement fits the union of every stroke (:mod:`qdimd.masks.placement`), so adding or
dropping a stroke moves the others.

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

from .generator import MaskConfig, MaskParams
from .placement import fit_transform, qd_to_pixels_v1
from .render import padded_point_index

if TYPE_CHECKING:  # pragma: no cover
    from ..strokes.store import StrokeStore

Box = tuple[int, int, int, int]
"""``(top, left, bottom, right)``, bottom/right exclusive."""


@dataclass(frozen=True)
class Geometry:
    """A record with its output-px polylines.

    Attributes:
        params: the record (widths as stored, before any scale ``k``).
        qd: ``(P, 2)`` float64 the strokes' Quick, Draw! points (one-point strokes doubled).
        points: ``(P, 2)`` float64 x, y of all strokes in output px.
        counts: ``(S,)`` int64 points per stroke.
        lengths: ``(S,)`` float64 length of each stroke inside the drawable box.
        widths: ``(S,)`` float64 the record's widths.
    """

    params: MaskParams
    qd: np.ndarray
    points: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray
    widths: np.ndarray


def _gather(store: "StrokeStore", strokes) -> tuple[np.ndarray, np.ndarray]:
    """``(qd, counts)`` of ``strokes``, gathered as :func:`qdimd.masks.generator.stroke_geometry` gathers them."""
    starts_all, ids = np.asarray(store.stroke_starts), np.asarray(strokes, np.int64)
    starts = starts_all[ids]
    index, counts = padded_point_index(starts, starts_all[ids + 1] - starts)
    return np.asarray(store.points)[index].astype(np.float64), counts


def _place(params: MaskParams, config: MaskConfig, qd: np.ndarray, counts: np.ndarray, box: Box) -> Geometry:
    """The geometry of ``params`` from its gathered points: the same floats as
    :func:`qdimd.masks.generator.stroke_geometry` (one mask, without its batch machinery)."""
    h, w = config.size
    dy, dx = params.offset
    if params.version == 1:
        (sx, bx), (sy, by) = qd_to_pixels_v1(params.upscale, w), qd_to_pixels_v1(params.upscale, h)
    else:
        (x0, y0), (x1, y1) = qd.min(axis=0).tolist(), qd.max(axis=0).tolist()
        fit_box = (0.0, 0.0, float(h), float(w)) if params.fit_box is None else params.fit_box
        sx, bx, sy, by = fit_transform((x0, y0, x1, y1), fit_box, params.upscale, *params.mirror)
    points = qd * np.array([sx, sy]) + np.array([bx + dx, by + dy])
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
    return Geometry(params, qd, points, counts, np.add.reduceat(seg, starts), np.asarray(params.widths, np.float64))


def geometry_of(params: MaskParams, config: MaskConfig, store: "StrokeStore", box: Box) -> Geometry:
    """Polylines of ``params`` exactly as :func:`qdimd.masks.generator.render_mask` draws them, and stroke lengths
    inside ``box``."""
    return _place(params, config, *_gather(store, params.strokes), box)


def regeometry(geo: Geometry, params: MaskParams, config: MaskConfig, box: Box) -> Geometry:
    """The geometry of ``params`` (``geo``'s record with another offset, box or the like; same strokes)."""
    return _place(params, config, geo.qd, geo.counts, box)


def with_strokes(params: MaskParams, drawings: tuple[int, ...], strokes: tuple[int, ...],
                 widths: tuple[float, ...]) -> MaskParams:
    """``params`` with more strokes (same upscale, placement box, clip box and augmentation)."""
    return replace(params, drawings=params.drawings + drawings, strokes=params.strokes + strokes,
                   widths=params.widths + widths)


def grow_geometry(geo: Geometry, drawings: tuple[int, ...], strokes: tuple[int, ...], widths: tuple[float, ...],
                  config: MaskConfig, store: "StrokeStore", box: Box) -> Geometry:
    """``geo`` with more strokes (same upscale, placement box, clip box and augmentation; all strokes re-placed)."""
    params = with_strokes(geo.params, drawings, strokes, widths)
    qd, counts = _gather(store, strokes)
    return _place(params, config, np.concatenate([geo.qd, qd]), np.concatenate([geo.counts, counts]), box)


def shrink_geometry(geo: Geometry, keep: int, config: MaskConfig, box: Box) -> Geometry:
    """``geo`` with only its first ``keep`` strokes (re-placed)."""
    p = geo.params
    params = replace(p, drawings=p.drawings[:keep], strokes=p.strokes[:keep], widths=p.widths[:keep])
    return _place(params, config, geo.qd[:int(geo.counts[:keep].sum())], geo.counts[:keep], box)


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


def fit_into_box(params: MaskParams, box: Box, pad: float) -> MaskParams:
    """Fit the strokes' union into ``box`` less ``pad`` px on each side (version 2's ``fit_box``), so that
    after the upscale about its centre the union spans the padded box: strokes whose radius is at most
    ``pad`` are not cut by a clip box equal to ``box``. Widths are kept."""
    top, left, bottom, right = box
    cy, cx = (top + bottom) / 2.0, (left + right) / 2.0
    hh = max(0.5, (bottom - top) / 2.0 - pad) / params.upscale
    hw = max(0.5, (right - left) / 2.0 - pad) / params.upscale
    return replace(params, fit_box=(cy - hh, cx - hw, cy + hh, cx + hw))


def sample_extra_strokes(
    rng: np.random.Generator, m: int, pool: np.ndarray, store: "StrokeStore", config: MaskConfig,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[float, ...]]:
    """``m`` strokes drawn like Algorithm 1's: a uniform drawing of ``pool``, a uniform stroke in it, a
    uniform width. Returns ``(drawings, strokes, widths)``."""
    u = rng.random(3 * m)
    drawing_starts = np.asarray(store.drawing_starts)
    picks = (u[:m] * len(pool)).astype(np.int64)
    drawings = pool.start + pool.step * picks if isinstance(pool, range) else np.asarray(pool)[picks]
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
