"""Targeted generation: QD-IMD masks made directly inside a hole-ratio range and border group.

Redrawing until a mask happens to land in a bucket is slow (MAT's redraw falls
from 1,407 to 248 masks/s for (0.5, 0.6]) and nearly never yields the
``noborder`` group at 256 (about 1% of plain masks keep every hole 25 px from
the border, almost all in bucket 1). Instead, each mask starts from Algorithm 1's
record (:func:`qdimd.generator.sample_mask_params`) and is steered:

* ``min_border_distance=m`` (``noborder``): the strokes' bounding box is fitted
  into the inner box ``m`` px from every edge by shrinking the upscale and
  translating (``MaskParams.upscale``/``offset``), and ``MaskParams.clip_box``
  clears anything left outside, so the distance condition always holds.
* The ratio is reached by scaling every stroke width by one factor ``k`` (the
  ratio is monotone in ``k``). ``k`` is predicted from the strokes' lengths
  with a coverage model, ``ratio = f * (1 - exp(-GAMMA * S(k) / A))`` where
  ``S(k) = sum(L_s w_s k + pi (w_s k)^2 / 4)`` is the drawn area without
  overlaps, ``A`` the area available and ``f`` its share of the image; after
  each render the model is recalibrated on the measured ratio (a secant step
  inside the bracket found so far). Strokes are added (from a stream derived
  from ``(seed, index)``) while ``k`` would exceed :data:`K_MAX`, and dropped
  while it would be below :data:`K_MIN`. Most masks take one or two renders.
* ``max_border_distance=d`` (``border``): if the mask keeps more than ``d`` px
  from every edge, it is translated by whole pixels toward its nearest edge.
* Every mask is verified (ratio in ``(lo, hi]`` and the distance condition)
  before it is returned. A mask that misses after a few tries is redrawn from
  fresh strokes; as a last resort a bracketing bisection on ``k`` without
  augmentation runs, which always terminates (and raises a clear error if the
  range is so narrow that no width lands in it).

Deviations from Algorithm 1 in targeted masks: widths leave ``U(5, 15)`` (they
are scaled by ``k``), stroke counts leave ``N(4, 2)``, and ``noborder`` masks are
shrunk to fit the inner box. Mask ``i`` is a pure function of (config, store,
seed, range, border condition, i), and :func:`qdimd.generator.render_mask` of
its record rebuilds it exactly.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .augment import apply_augment
from .buckets import DEFAULT_EDGES, GROUPS, border_distance, bucket_range, default_margin
from .generator import MaskConfig, MaskParams, mask_rng, sample_mask_params, stroke_geometry
from .render import apply_clip_box, create_canvas

if TYPE_CHECKING:  # pragma: no cover
    from .store import StrokeStore

GAMMA = 0.95
"""Calibration of the coverage model (measured overlap of Quick, Draw! strokes at 256)."""
K_MIN, K_MAX = 0.5, 4.5
"""Width-scale range within which the stroke count is kept; outside it strokes are dropped or added."""
MAX_STROKES = 64
STEPS = 6
"""Model-guided renders per attempt before fresh strokes are drawn."""
ATTEMPTS = 3
FALLBACK_STEPS = 60


@dataclass(frozen=True)
class _Geometry:
    """A record with its output-px polylines; ``lengths`` are inside the drawable area, ``widths`` as stored."""

    params: MaskParams
    points: np.ndarray  # (P, 2) float64
    counts: np.ndarray  # (S,) int64
    lengths: np.ndarray  # (S,) float64
    widths: np.ndarray  # (S,) float64


def _margins(hole: np.ndarray) -> tuple[int, int, int, int]:
    """Empty rows/columns at the (top, left, bottom, right) edges (caller ensures a hole exists)."""
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    h, w = hole.shape
    return int(rows[0]), int(cols[0]), int(h - 1 - rows[-1]), int(w - 1 - cols[-1])


class TargetedGenerator:
    """Masks whose hole ratio lies in ``(lo, hi]`` and whose border distance meets a condition.

    Args:
        config: Algorithm 1's parameters (size, widths, split, augmentation, ...).
        store: stroke store; None = the bundled sample.
        seed: >= 0.
        ratio_range: ``(lo, hi)``; every mask has ``lo < hole_ratio <= hi``.
        min_border_distance: every hole at least this many px from the border (``noborder``).
        max_border_distance: some hole at most this many px from the border (``border``).

    Raises:
        ValueError: a bad range, both distance conditions, or an impossible combination
            (the inner box is too small for ``lo``).

    Example:
        >>> gen = TargetedGenerator(MaskConfig(size=(256, 256)), seed=0, ratio_range=(0.5, 0.6), min_border_distance=25)
        >>> hole = gen.generate(0)   # (256, 256) bool, 0.5 < ratio <= 0.6, border_distance >= 25
    """

    def __init__(
        self,
        config: MaskConfig = MaskConfig(),
        store: "StrokeStore | None" = None,
        seed: int = 0,
        ratio_range: tuple[float, float] = (DEFAULT_EDGES[0], DEFAULT_EDGES[-1]),
        min_border_distance: int | None = None,
        max_border_distance: int | None = None,
    ):
        lo, hi = (float(v) for v in ratio_range)
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"Expected ratio_range (lo, hi) with 0 <= lo < hi <= 1, got {tuple(ratio_range)}")
        if min_border_distance is not None and max_border_distance is not None:
            raise ValueError("Expected at most one of min_border_distance and max_border_distance, got both")
        h, w = config.size
        if min_border_distance is not None:
            m = int(min_border_distance)
            inner = max(0, h - 2 * m) * max(0, w - 2 * m) / (h * w)
            if m < 0 or inner <= lo:
                raise ValueError(
                    f"Expected min_border_distance >= 0 leaving more than lo={lo} of the {h}x{w} image inside the margin,"
                    f" got {min_border_distance} (inner share {inner:.3f})"
                )
        if max_border_distance is not None and max_border_distance < 0:
            raise ValueError(f"Expected max_border_distance >= 0, got {max_border_distance}")
        if seed < 0:
            raise ValueError(f"Expected seed >= 0, got {seed}")
        if store is None:
            from .store import load_default_store

            store = load_default_store()
        self.config, self.store, self.seed = config, store, int(seed)
        self.ratio_range = (lo, hi)
        self.min_border_distance = min_border_distance
        self.max_border_distance = max_border_distance
        self.pool = np.asarray(store.drawing_pool(config.split), dtype=np.int64)
        if len(self.pool) == 0:
            raise ValueError(f"Expected drawings in the pool, got none for split={config.split!r}")
        self.canvas = create_canvas(config.size, config.renderer)
        self._starts = np.asarray(store.stroke_starts)
        self._drawing_starts = np.asarray(store.drawing_starts)
        self._points = np.asarray(store.points)
        if min_border_distance is None:
            self._clip = None
            self._area_share = 1.0
        else:
            m = int(min_border_distance)
            self._clip = (m, m, h - m, w - m)
            self._area_share = (h - 2 * m) * (w - 2 * m) / (h * w)
        self._per_stroke = self._typical_stroke()

    @classmethod
    def for_group(
        cls, bucket: int, group: str, config: MaskConfig = MaskConfig(), store: "StrokeStore | None" = None, seed: int = 0,
        *, edges: Sequence[float] = DEFAULT_EDGES, margin: int | None = None,
    ) -> "TargetedGenerator":
        """The generator of one (bucket, group) cell: bucket 1-based, group ``noborder``/``border``;
        ``margin`` None is NVIDIA's scaled one (:func:`qdimd.buckets.default_margin`)."""
        if group not in GROUPS:
            raise ValueError(f"Expected group in {GROUPS}, got {group!r}")
        margin = default_margin(*config.size) if margin is None else int(margin)
        if group == GROUPS[1] and margin < 1:
            raise ValueError(f"Expected margin >= 1 for the border group, got {margin}")
        lo, hi = bucket_range(bucket, edges)
        if group == GROUPS[0]:
            return cls(config, store, seed, (lo, hi), min_border_distance=margin)
        return cls(config, store, seed, (lo, hi), max_border_distance=margin - 1)

    # ------------------------------------------------------------------ public API
    def params(self, index: int) -> MaskParams:
        """The record of mask ``index`` (:func:`qdimd.generator.render_mask` rebuilds the mask)."""
        return self._solve(index)[0]

    def generate(self, index: int) -> np.ndarray:
        """Mask ``index``: ``(H, W)`` bool, True = hole, verified to satisfy the target."""
        return self._solve(index)[1]

    def batch(self, start: int, n: int) -> np.ndarray:
        """Masks ``start .. start + n - 1``: ``(n, H, W)`` bool."""
        if start < 0 or n < 0:
            raise ValueError(f"Expected start >= 0 and n >= 0, got start={start}, n={n}")
        h, w = self.config.size
        out = np.empty((n, h, w), dtype=bool)
        for i in range(n):
            out[i] = self.generate(start + i)
        return out

    def accepts(self, hole: np.ndarray) -> bool:
        """Whether a mask satisfies the ratio range and the distance condition."""
        lo, hi = self.ratio_range
        if not lo < np.count_nonzero(hole) / hole.size <= hi:
            return False
        if self.min_border_distance is None and self.max_border_distance is None:
            return True
        distance = border_distance(hole)
        if self.min_border_distance is not None and distance < self.min_border_distance:
            return False
        return self.max_border_distance is None or distance <= self.max_border_distance

    # ------------------------------------------------------------------ internals
    def _sample(self, index: int, stream: Sequence[int]) -> MaskParams:
        rng = mask_rng(self.seed, index) if not stream else np.random.default_rng([self.seed, index, *stream])
        return sample_mask_params(rng, self.config, self.store, self.pool, index, self.seed)

    def _fit_inner(self, params: MaskParams) -> MaskParams:
        """Shrink and translate the strokes' bounding box into the clip box (noborder)."""
        if self._clip is None:
            return params
        h, w = self.config.size
        top, left, bottom, right = self._clip
        strokes = np.asarray(params.strokes, np.int64)
        first, counts = self._starts[strokes], self._starts[strokes + 1] - self._starts[strokes]
        gather = np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        qd = self._points[gather]
        lo_q, hi_q = qd.min(axis=0).astype(np.float64), qd.max(axis=0).astype(np.float64)  # x, y in 0..255
        size = np.array([w, h], np.float64)
        p0 = (lo_q + 0.5) * size / 256.0 - size / 2.0  # relative to the centre, before upscale
        p1 = (hi_q + 0.5) * size / 256.0 - size / 2.0
        inner = np.array([right - left, bottom - top], np.float64)
        pad = np.minimum(0.5 * sum(params.widths) / len(params.widths) * params.upscale, inner / 8.0)
        span = np.maximum(p1 - p0, 1e-9)
        upscale = float(min(params.upscale, *((inner - 2 * pad) / span)))
        centre = size / 2.0 + (p0 + p1) / 2.0 * upscale
        half = (p1 - p0) / 2.0 * upscale
        low = np.array([left, top], np.float64) + pad + half
        high = np.array([right, bottom], np.float64) - pad - half
        shift = np.clip(centre, low, np.maximum(low, high)) - centre
        return dataclasses.replace(params, upscale=upscale, offset=(float(shift[1]), float(shift[0])), clip_box=self._clip)

    def _more_strokes(self, params: MaskParams, index: int, attempt: int, m: int) -> MaskParams:
        """``m`` extra strokes drawn like Algorithm 1's (a uniform drawing, a uniform stroke in it, a uniform
        width) from a stream derived from ``(seed, index)``, with ``params``' transform; only those strokes."""
        rng = np.random.default_rng([self.seed, index, attempt, 1, len(params.strokes)])
        u = rng.random(3 * m)
        drawings = self.pool[(u[:m] * len(self.pool)).astype(np.int64)]
        first = self._drawing_starts[drawings]
        strokes = first + (u[m:2 * m] * (self._drawing_starts[drawings + 1] - first)).astype(np.int64)
        c = self.config
        widths = (c.width_min + (c.width_max - c.width_min) * u[2 * m:]) * (min(c.size) / c.reference_size)
        return dataclasses.replace(
            params, drawings=tuple(drawings.tolist()), strokes=tuple(strokes.tolist()), widths=tuple(widths.tolist())
        )

    def _geometry(self, params: MaskParams) -> _Geometry:
        """Output-px polylines of ``params`` and each stroke's length inside the drawable area."""
        points, counts, _, _ = stroke_geometry([params], self.config, self.store)
        h, w = self.config.size
        top, left, bottom, right = (0, 0, h, w) if self._clip is None else self._clip
        mid = 0.5 * (points[1:] + points[:-1])
        inside = (mid[:, 0] >= left) & (mid[:, 0] <= right) & (mid[:, 1] >= top) & (mid[:, 1] <= bottom)
        seg = np.hypot(*np.diff(points, axis=0).T) * inside
        ends = np.cumsum(counts)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        lengths = cum[ends - 1] - cum[ends - counts]
        return _Geometry(params, points, counts, lengths, np.asarray(params.widths, np.float64))

    def _extend(self, geo: _Geometry, index: int, attempt: int, m: int) -> _Geometry:
        """``geo`` plus ``m`` extra strokes (same transform; anything outside the clip box is cleared)."""
        m = min(m, MAX_STROKES - len(geo.params.strokes))
        if m <= 0:
            return geo
        more = self._geometry(self._more_strokes(geo.params, index, attempt, m))
        p, q = geo.params, more.params
        params = dataclasses.replace(p, drawings=p.drawings + q.drawings, strokes=p.strokes + q.strokes, widths=p.widths + q.widths)
        return _Geometry(
            params, np.concatenate([geo.points, more.points]), np.concatenate([geo.counts, more.counts]),
            np.concatenate([geo.lengths, more.lengths]), np.concatenate([geo.widths, more.widths]),
        )

    @staticmethod
    def _truncate(geo: _Geometry, keep: int) -> _Geometry:
        p = geo.params
        params = dataclasses.replace(p, drawings=p.drawings[:keep], strokes=p.strokes[:keep], widths=p.widths[:keep])
        n_points = int(geo.counts[:keep].sum())
        return _Geometry(params, geo.points[:n_points], geo.counts[:keep], geo.lengths[:keep], geo.widths[:keep])

    def _typical_stroke(self) -> tuple[float, float]:
        """Mean ``(a, b)`` area terms of one stroke (see :meth:`_area_terms`), from 32 fixed draws."""
        terms = []
        for i in range(32):
            rng = np.random.default_rng([0, i, 0x7A59])  # fixed: depends on (config, store) only
            params = sample_mask_params(rng, self.config, self.store, self.pool, i, 0)
            geo = self._geometry(self._fit_inner(params))
            terms.append(np.array(self._area_terms(geo)) / len(params.strokes))
        a, b = np.mean(terms, axis=0)
        return float(a), float(b)

    def _prior_extra(self, n: int, gamma: float, y_target: float) -> int:
        """Extra strokes that typical strokes would need to reach ``y_target`` at a width scale of ``K_MAX``."""
        a, b = self._per_stroke
        h, w = self.config.size
        area = y_target * h * w * self._area_share / gamma
        k = 0.8 * K_MAX  # aim below K_MAX so that a second geometry pass is rarely needed
        per_stroke = a * k * k + b * k
        return max(0, min(MAX_STROKES, int(math.ceil(area / per_stroke))) - n)

    @staticmethod
    def _area_terms(geo: _Geometry) -> tuple[float, float]:
        """Drawn area without overlaps ``S(k) = a k^2 + b k`` in px."""
        drawn = geo.widths * geo.params.upscale
        return float(np.sum(np.pi * drawn**2 / 4.0)), float(np.dot(geo.lengths, drawn))

    def _target_y(self) -> tuple[float, float, float]:
        lo, hi = self.ratio_range
        f = self._area_share
        y = lambda r: -math.log(max(1e-6, 1.0 - min(r / f, 0.995)))  # noqa: E731
        return y(lo), y(hi), 0.5 * (y(lo) + y(hi))

    def _k_for(self, a: float, b: float, gamma: float, y_target: float) -> float:
        h, w = self.config.size
        area = y_target * h * w * self._area_share / gamma
        if a <= 0:
            return area / b if b > 0 else 1.0
        return (-b + math.sqrt(b * b + 4.0 * a * area)) / (2.0 * a)

    def _render(self, geo: _Geometry, k: float) -> tuple[MaskParams, np.ndarray]:
        """Render with widths scaled by ``k`` exactly as :func:`qdimd.generator.render_mask` renders the record."""
        stored = geo.widths * k
        trial = dataclasses.replace(geo.params, widths=tuple(stored.tolist()))
        hole = self.canvas.draw(geo.points, geo.counts, stored * trial.upscale) != 0
        if trial.augment is not None:
            hole = apply_augment(hole, trial.augment)
        return trial, apply_clip_box(hole, trial.clip_box)

    def _fix_border(self, params: MaskParams, hole: np.ndarray) -> tuple[MaskParams, np.ndarray]:
        """Translate by whole px toward the nearest edge so that some hole lies within ``max_border_distance``."""
        limit = self.max_border_distance
        if not hole.any():
            return params, hole
        margins = _margins(hole)
        side = int(np.argmin(margins))
        step = margins[side] - limit
        if step <= 0:
            return params, hole
        dy, dx = params.offset
        dy, dx = {0: (dy - step, dx), 1: (dy, dx - step), 2: (dy + step, dx), 3: (dy, dx + step)}[side]
        return self._render(self._geometry(dataclasses.replace(params, offset=(float(dy), float(dx)))), 1.0)

    def _steer(self, params: MaskParams, index: int, attempt: int, steps: int, gamma: float) -> tuple[MaskParams, np.ndarray] | None:
        lo, hi = self.ratio_range
        y_lo, y_hi, y_mid = self._target_y()
        params = self._fit_inner(params)
        m = self._prior_extra(len(params.strokes), gamma, y_mid)
        if m > 0:
            more = self._more_strokes(params, index, attempt, m)
            params = dataclasses.replace(
                params, drawings=params.drawings + more.drawings, strokes=params.strokes + more.strokes,
                widths=params.widths + more.widths,
            )
        geo = self._geometry(params)
        a, b = self._area_terms(geo)
        k = self._k_for(a, b, gamma, y_mid)
        for _ in range(3):
            if k <= 1.25 * K_MAX or len(geo.params.strokes) >= MAX_STROKES:
                break
            # at a fixed width scale the drawn area grows about linearly with the stroke count
            n = len(geo.params.strokes)
            factor = (a * k * k + b * k) / (a * K_MAX * K_MAX + b * K_MAX)
            geo = self._extend(geo, index, attempt, max(1, int(math.ceil(n * (1.1 * factor - 1.0)))))
            a, b = self._area_terms(geo)
            k = self._k_for(a, b, gamma, y_mid)
        while k < K_MIN and len(geo.params.strokes) > 1:
            geo = self._truncate(geo, len(geo.params.strokes) - 1)
            a, b = self._area_terms(geo)
            k = self._k_for(a, b, gamma, y_mid)
        below, above = 0.0, math.inf  # bracket: ratio(below) <= lo, ratio(above) > hi
        size = float(np.prod(self.config.size))
        for _ in range(steps):
            trial, hole = self._render(geo, k)
            ratio = np.count_nonzero(hole) / size
            if lo < ratio <= hi:
                if self.max_border_distance is not None:
                    trial, hole = self._fix_border(trial, hole)
                return (trial, hole) if self.accepts(hole) else None
            if ratio <= lo:
                below = max(below, k)
            else:
                above = min(above, k)
            r_in = min(ratio / self._area_share, 0.995)
            if r_in <= 0:
                guess = 4.0 * k
            else:  # recalibrate the coverage model on this render (a secant step in its space)
                drawn_share = (a * k * k + b * k) / (size * self._area_share)
                gamma = -math.log(1.0 - r_in) / max(drawn_share, 1e-12)
                guess = self._k_for(a, b, gamma, y_mid)
            if not below < guess < above:
                guess = 2.0 * below if math.isinf(above) else 0.5 * (below + above)
            k = guess
        return None

    def _solve(self, index: int) -> tuple[MaskParams, np.ndarray]:
        if index < 0:
            raise ValueError(f"Expected index >= 0, got {index}")
        for attempt in range(ATTEMPTS):
            params = self._sample(index, () if attempt == 0 else (attempt,))
            found = self._steer(params, index, attempt, STEPS, GAMMA)
            if found is not None:
                return found
        params = dataclasses.replace(self._sample(index, ()), augment=None)
        found = self._steer(params, index, ATTEMPTS, FALLBACK_STEPS, GAMMA)
        if found is None:
            raise RuntimeError(
                f"Could not make mask {index} with a hole ratio in ({self.ratio_range[0]}, {self.ratio_range[1]}] and"
                f" the border condition; the range may be too narrow for {self.config.size}"
            )
        return found
