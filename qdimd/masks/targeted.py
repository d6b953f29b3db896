"""Targeted generation: QD-IMD masks made directly inside a hole-ratio range and border group.

Redrawing until a mask lands in a bucket is slow (MAT's redraw falls from 1,407 to 248 masks/s
for (0.5, 0.6]) and at 256 never yields ``noborder`` masks above a ratio of 0.01 (0.2% of plain
masks keep every hole 25 px from the border). Instead, each mask starts from Algorithm 1's record
(:func:`qdimd.masks.generator.sample_mask_params`) and is steered:

* ``min_border_distance=m`` (``noborder``): ``MaskParams.clip_box`` clears
  everything outside the inner box ``m`` px from every edge, so the distance
  condition always holds; for sparse targets (at most :data:`FIT_MAX_COVER` of
  the box to cover) the union of the strokes is fitted into the box less the
  largest stroke radius (``MaskParams.fit_box``), so strokes are not cut; dense
  targets keep the canvas placement and are cut flat at the box, like NVIDIA's
  (whose noborder masks nearly all touch their 50 px frame).
* The ratio is reached mainly with the stroke count: strokes are added (or dropped)
  exactly as Algorithm 1 draws them, from the mask's own generator, and every width
  is scaled by one factor ``k`` kept within ``[K_MIN, K_MAX]`` (so targeted masks are
  about as thick as natural masks of the same bucket, not blobs of a few wide
  strokes). The count and ``k`` are predicted with the coverage model of
  :mod:`qdimd.masks.coverage` (calibrated per generator on 32 fixed draws) and, after
  each render, recalibrated on the measured ratio (a secant step inside the bracket
  found so far); when ``k`` would leave its range, strokes are added or dropped
  instead. A noborder mask a little over ``hi`` has its clip box moved in by a few
  px instead of being rendered again. Each mask aims at a point drawn inside its
  range, so ratios spread over it.
* ``max_border_distance=d`` (``border``): if the mask keeps more than ``d`` px
  from every edge, it is translated by whole pixels toward its nearest edge.
* Every mask is verified (ratio in ``(lo, hi]`` and the distance condition)
  before it is returned. A mask that misses after a few tries is redrawn from
  fresh strokes; as a last resort a bracketing bisection on ``k`` without
  augmentation runs with the width bound lifted, which always terminates (and
  raises a clear error if the range is so narrow that no width lands in it).

Deviations from Algorithm 1 in targeted masks: widths leave ``U(5, 15)`` by the
factor ``k`` (at most 1.25x either way), stroke counts leave ``N(4, 2)`` (up to
:data:`MAX_STROKES`), and ``noborder`` masks are fitted into, or cut at, the inner box.
Targeted masks need mask version 2 (:data:`qdimd.masks.params.MASK_VERSION`); splits
written by an older qdimd (version 1) still replay from their manifests. Mask ``i`` is a pure function of
(config, store, seed, range, border condition, i), and
:func:`qdimd.masks.generator.render_mask` of its record rebuilds it exactly.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..buckets import DEFAULT_EDGES, GROUPS, bucket_range, default_margin, edge_margins
from ..errors import InputError
from .coverage import (Geometry, area_terms, coverage_y, fit_into_box, geometry_of, grow_geometry, inset_clip_box,
                       measured_gamma, near_edge, regeometry, sample_extra_strokes, shrink_geometry, width_scale_for,
                       with_strokes)
from .generator import MaskConfig, MaskParams, draw_record, drawing_pool, mask_rng, sample_mask_params
from .render import apply_clip_box, create_canvas

if TYPE_CHECKING:  # pragma: no cover
    from ..strokes.store import StrokeStore

GAMMA = 0.95
"""Starting calibration of the coverage model; each generator refines it on 32 fixed draws."""
K_MIN, K_MAX = 0.8, 1.25
"""Range of the width scale ``k``; outside it the stroke count changes instead."""
K_CUT_SLOPE = 2.5
"""Noborder targets cut at the inner box allow ``k`` up to ``K_MAX + K_CUT_SLOPE * (cover - FIT_MAX_COVER)``
(``cover`` = share of the box to cover at ``hi``; 1.55 / 1.93 / 2.33 for buckets 4 / 5 / 6 with NVIDIA's
margin), where NVIDIA's masks are thicker than natural QD-IMD ones (13-24 px against 8-12 px at 256):
fewer, wider strokes keep generation fast."""
K_FALLBACK = (0.25, 8.0)
"""The wider range of ``k`` of the last-resort search."""
MAX_STROKES = 160
STEPS = 8
"""Model-guided renders per attempt before fresh strokes are drawn."""
ATTEMPTS = 3
FALLBACK_STEPS = 60
MAX_INSET = 0.1
"""Noborder masks may have their clip box moved in by up to this share of its side to trim the ratio."""
FIT_MAX_COVER = 0.5
"""Noborder strokes are fitted into the inner box only when at most this share of it is to be covered; denser
targets (buckets 4-6 with NVIDIA's margin) are cut at the box (fitted, they would come out too thick)."""
AIM = (0.15, 0.85)
"""Each mask aims at ``lo + u * (hi - lo)`` with ``u`` uniform in this range (drawn from the mask's
generator), so ratios spread over the bucket (the edges are left out: aims there miss more often)."""


def cell_target(bucket: int, group: str, size: tuple[int, int], *, edges: Sequence[float] = DEFAULT_EDGES,
                margin: int | None = None) -> tuple[tuple[float, float], dict[str, int]]:
    """The ratio range and border condition of a (bucket, group) cell: ``((lo, hi), {"min_border_distance": m}
    or {"max_border_distance": m - 1})``; ``margin`` None is NVIDIA's scaled one (:func:`qdimd.buckets.default_margin`)."""
    if group not in GROUPS:
        raise ValueError(f"Expected group in {GROUPS}, got {group!r}")
    margin = default_margin(*size) if margin is None else int(margin)
    if group == GROUPS[1] and margin < 1:
        raise ValueError(f"Expected margin >= 1 for the border group, got {margin}")
    condition = {"min_border_distance": margin} if group == GROUPS[0] else {"max_border_distance": margin - 1}
    return bucket_range(bucket, edges), condition


class TargetedGenerator:
    """Masks whose hole ratio lies in ``(lo, hi]`` and whose border distance meets a condition.

    Args:
        config: Algorithm 1's parameters (size, widths, split, augmentation, ...).
        store: stroke store; None = the bundled sample.
        seed: >= 0.
        ratio_range: ``(lo, hi)``; every mask has ``lo < hole_ratio <= hi``.
        min_border_distance: every hole at least this many px from the border (``noborder``).
        max_border_distance: some hole at most this many px from the border (``border``).
        pool: the drawing ids to draw from, shared between generators of one store and split
            (:func:`qdimd.masks.generator.drawing_pool`); None = computed here.

    Raises:
        ValueError: a bad range, both distance conditions, an impossible combination
            (the inner box is too small for ``lo``), or a config of mask version 1.
        InputError (when a mask is made): its drawings cannot reach the range; the message says what to change.

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
        pool: "np.ndarray | range | None" = None,
    ):
        if config.mask_version == 1:
            raise ValueError("Expected a config of mask version 2 for targeted masks (version 1 splits were made by an"
                             " older qdimd; their manifests still replay with render_mask), got mask_version=1")
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
            from ..strokes.store import load_default_store

            store = load_default_store()
        self.config, self.store, self.seed = config, store, int(seed)
        # every mask is verified non-empty (ratio > lo >= 0): skip the sampler's own visibility check
        self._sampling = dataclasses.replace(config, allow_empty=True)
        self.ratio_range = (lo, hi)
        self.min_border_distance = min_border_distance
        self.max_border_distance = max_border_distance
        self.pool = drawing_pool(store, config.split) if pool is None else pool
        if len(self.pool) == 0:
            raise ValueError(f"Expected drawings in the pool, got none for split={config.split!r}")
        self.canvas = create_canvas(config.size, config.renderer)
        if min_border_distance is None:
            self._clip = None
            self._box = (0, 0, h, w)
        else:
            m = int(min_border_distance)
            self._clip = self._box = (m, m, h - m, w - m)
        self._size = float(h * w)
        self._area = float((self._box[2] - self._box[0]) * (self._box[3] - self._box[1]))  # drawable px
        self._share = self._area / self._size
        self._fit = self._clip is not None and hi / self._share <= FIT_MAX_COVER
        self._max_inset = int(MAX_INSET * min(self._box[2] - self._box[0], self._box[3] - self._box[1]))
        # fitted strokes keep this far inside the box: the largest drawn radius of Algorithm 1 (k = 1)
        self._pad = 0.5 * config.width_max * min(h, w) / config.reference_size * config.upscale_max
        cut = self._clip is not None and not self._fit
        self._k_range = (K_MIN, K_MAX + K_CUT_SLOPE * (hi / self._share - FIT_MAX_COVER) if cut else K_MAX)
        self._k_prior = 0.9 * self._k_range[1] if cut else 1.0  # the k that stroke counts aim at
        self._gamma = self._calibrate()

    @classmethod
    def for_group(
        cls, bucket: int, group: str, config: MaskConfig = MaskConfig(), store: "StrokeStore | None" = None, seed: int = 0,
        *, edges: Sequence[float] = DEFAULT_EDGES, margin: int | None = None, pool: "np.ndarray | range | None" = None,
    ) -> "TargetedGenerator":
        """The generator of one (bucket, group) cell: bucket 1-based, group ``noborder``/``border``;
        ``margin`` None is NVIDIA's scaled one (:func:`qdimd.buckets.default_margin`); ``pool`` as in the class."""
        ratio_range, condition = cell_target(bucket, group, config.size, edges=edges, margin=margin)
        return cls(config, store, seed, ratio_range, **condition, pool=pool)

    # ------------------------------------------------------------------ public API
    def params(self, index: int) -> MaskParams:
        """The record of mask ``index`` (:func:`qdimd.masks.generator.render_mask` rebuilds the mask)."""
        return self._solve(index)[0]

    def generate(self, index: int) -> np.ndarray:
        """Mask ``index``: ``(H, W)`` bool, True = hole, verified to satisfy the target."""
        return self._solve(index)[1]

    def generate_with_params(self, index: int) -> tuple[MaskParams, np.ndarray]:
        """Both the record and the mask of ``index`` (one solve)."""
        return self._solve(index)

    def batch(self, start: int, n: int) -> np.ndarray:
        """Masks ``start .. start + n - 1``: ``(n, H, W)`` bool."""
        if start < 0 or n < 0:
            raise ValueError(f"Expected start >= 0 and n >= 0, got start={start}, n={n}")
        holes = [self.generate(i) for i in range(start, start + n)]
        return np.stack(holes) if holes else np.empty((0, *self.config.size), dtype=bool)

    def accepts(self, hole: np.ndarray) -> bool:
        """Whether a mask satisfies the ratio range and the distance condition.

        Equivalent to checking :func:`qdimd.buckets.hole_ratio` and :func:`qdimd.buckets.border_distance`
        (a non-empty mask, as ``ratio > lo >= 0`` implies), but only the edge bands are scanned.
        """
        lo, hi = self.ratio_range
        if not lo < np.count_nonzero(hole) / hole.size <= hi:
            return False
        if self.min_border_distance is not None and near_edge(hole, self.min_border_distance):
            return False
        return self.max_border_distance is None or near_edge(hole, self.max_border_distance + 1)

    # ------------------------------------------------------------------ internals
    def _sample(self, index: int, stream: Sequence[int]) -> tuple[MaskParams, float, np.random.Generator]:
        """Algorithm 1's record from the stream ``(seed, index, *stream)``, the aim ``u`` drawn after it, and
        the generator, which then draws any extra strokes."""
        rng = mask_rng(self.seed, index) if not stream else np.random.default_rng([self.seed, index, *stream])
        params = sample_mask_params(rng, self._sampling, self.store, self.pool, index, self.seed)
        return params, float(AIM[0] + (AIM[1] - AIM[0]) * rng.random()), rng

    def _place(self, params: MaskParams) -> MaskParams:
        """Noborder: the clip box, and for sparse targets the strokes fitted into it."""
        if self._clip is None:
            return params
        if self._fit:
            params = fit_into_box(params, self._clip, self._pad)
        else:  # fitted to the inner box, then upscaled past it: cut at the box, with little ink wasted outside
            params = dataclasses.replace(params, fit_box=tuple(float(v) for v in self._clip))
        return dataclasses.replace(params, clip_box=self._clip)

    def _geometry(self, params: MaskParams) -> Geometry:
        return geometry_of(params, self.config, self.store, self._box)

    def _more(self, geo: Geometry, rng: np.random.Generator, m: int) -> Geometry:
        """``geo`` plus ``m`` strokes drawn like Algorithm 1's (at most :data:`MAX_STROKES` in all)."""
        m = min(m, MAX_STROKES - len(geo.params.strokes))
        if m <= 0:
            return geo
        more = sample_extra_strokes(rng, m, self.pool, self.store, self.config)
        return grow_geometry(geo, *more, self.config, self.store, self._box)

    def _count_for(self, gamma: float, y: float, k: float) -> int:
        """Strokes that typical strokes would need to reach ``y`` at the width scale ``k``."""
        a, b = self._per_stroke
        return max(1, min(MAX_STROKES, int(math.ceil(y * self._area / gamma / (a * k * k + b * k)))))

    def _calibrate(self) -> float:
        """The coverage model's ``gamma`` for this target, from 32 fixed draws; sets ``_per_stroke``, the mean
        per-stroke area terms of the same draws (used by :meth:`_count_for`).

        The draws depend only on (config, store), never on the seed, so the calibration is part of
        the generator's definition: mask ``i`` stays a pure function of its arguments.
        """
        draws, terms = [], []
        for i in range(32):
            rng = np.random.default_rng([0, i, 0x7A59])
            geo = self._geometry(self._place(sample_mask_params(rng, self.config, self.store, self.pool, i, 0)))
            draws.append((geo, rng))
            terms.append(np.array(area_terms(geo)) / len(geo.params.strokes))
        self._per_stroke = tuple(float(v) for v in np.mean(terms, axis=0))
        lo, hi = self.ratio_range
        y = coverage_y(0.5 * (lo + hi), self._share)
        grown = []
        for geo, rng in draws:
            n = len(geo.params.strokes)
            grown.append(self._more(geo, rng, self._count_for(GAMMA, y, self._k_prior) - n))
        # per-stroke terms again at the counts this target needs (more strokes: a wider union, a smaller fit)
        self._per_stroke = tuple(float(v) for v in np.mean([np.array(area_terms(g)) / len(g.params.strokes)
                                                             for g in grown], axis=0))
        gammas = []
        for geo in grown:
            a, b = area_terms(geo)
            k = width_scale_for(a, b, GAMMA, y, self._area)
            ratio = np.count_nonzero(self._render(geo, k)) / self._size
            gammas.append(measured_gamma(ratio, self._share, a, b, k, self._area))
        gammas = [g for g in gammas if g is not None]
        return float(np.median(gammas)) if gammas else GAMMA

    @staticmethod
    def _record(geo: Geometry, k: float) -> MaskParams:
        """The record of ``geo`` with every width scaled by ``k``."""
        return dataclasses.replace(geo.params, widths=tuple((geo.widths * k).tolist()))

    def _render(self, geo: Geometry, k: float) -> np.ndarray:
        """Render with widths scaled by ``k`` exactly as :func:`qdimd.masks.generator.render_mask` renders
        :meth:`_record` ``(geo, k)``: the same drawn widths, then augmentation, then the clip box."""
        return draw_record(self.canvas, geo.points, geo.counts, (geo.widths * k) * geo.params.upscale, geo.params)

    def _fix_border(self, geo: Geometry, k: float, hole: np.ndarray) -> tuple[MaskParams, np.ndarray]:
        """Translate by whole px toward the nearest edge so that some hole lies within ``max_border_distance``."""
        limit = self.max_border_distance
        if near_edge(hole, limit + 1) or not hole.any():
            return self._record(geo, k), hole
        margins = edge_margins(hole)
        side = int(np.argmin(margins))
        step = margins[side] - limit
        dy, dx = geo.params.offset
        dy, dx = {0: (dy - step, dx), 1: (dy, dx - step), 2: (dy + step, dx), 3: (dy, dx + step)}[side]
        geo = regeometry(geo, dataclasses.replace(geo.params, offset=(float(dy), float(dx))), self.config, self._box)
        return self._record(geo, k), self._render(geo, k)

    def _recount(self, geo: Geometry, rng: np.random.Generator, gamma: float, y: float,
                 k_range: tuple[float, float]) -> tuple[Geometry, float]:
        """Add or drop strokes until the model's ``k`` for ``y`` lies in ``k_range`` (or the count is at its
        limits); returns the geometry and that ``k``, clipped into the range."""
        k_lo, k_hi = k_range
        a, b = area_terms(geo)
        k = width_scale_for(a, b, gamma, y, self._area)
        for _ in range(6):
            n = len(geo.params.strokes)
            if k_lo <= k <= k_hi or (k > k_hi and n >= MAX_STROKES) or (k < k_lo and n <= 1):
                break
            target = min(max(k, k_lo), k_hi)  # the drawn area grows about linearly with the count
            want = n * (a * k * k + b * k) / (a * target * target + b * target)
            if k > k_hi:
                geo = self._more(geo, rng, max(1, int(math.ceil(want - n))))
            else:
                geo = shrink_geometry(geo, max(1, min(n - 1, int(math.floor(want)))), self.config, self._box)
            a, b = area_terms(geo)
            k = width_scale_for(a, b, gamma, y, self._area)
        return geo, min(max(k, k_lo), k_hi)

    def _steer(self, params: MaskParams, aim: float, rng: np.random.Generator, steps: int,
               gamma: float, k_range: tuple[float, float]) -> tuple[MaskParams, np.ndarray] | None:
        """Reach the target from one record: stroke count, then model-guided renders (see the module doc)."""
        lo, hi = self.ratio_range
        y = coverage_y(lo + aim * (hi - lo), self._share)
        params = self._place(params)
        m = min(self._count_for(gamma, y, self._k_prior), MAX_STROKES) - len(params.strokes)
        if m > 0:  # drawn before the first geometry: one gather and placement for all strokes
            params = with_strokes(params, *sample_extra_strokes(rng, m, self.pool, self.store, self.config))
        geo, k = self._recount(self._geometry(params), rng, gamma, y, k_range)
        below, above = 0.0, math.inf  # bracket: ratio(below) <= lo, ratio(above) > hi
        for _ in range(steps):
            hole = self._render(geo, k)
            ratio = np.count_nonzero(hole) / self._size
            trial = None
            if ratio > hi and self._clip is not None:
                clip = inset_clip_box(hole, self._clip, lo, hi, self._max_inset)
                if clip is not None:  # trim a small overshoot without rendering again
                    trial, hole = dataclasses.replace(self._record(geo, k), clip_box=clip), apply_clip_box(hole, clip)
                    ratio = np.count_nonzero(hole) / self._size
            if lo < ratio <= hi:
                if self.max_border_distance is not None:
                    trial, hole = self._fix_border(geo, k, hole)
                trial = self._record(geo, k) if trial is None else trial
                return (trial, hole) if self.accepts(hole) else None
            a, b = area_terms(geo)
            if ratio > 0:  # recalibrate the model on this render
                gamma = measured_gamma(min(ratio, 0.995 * self._share), self._share, a, b, k, self._area) or gamma
            stuck = (ratio <= lo and k >= k_range[1]) or (ratio > hi and k <= k_range[0])
            if stuck:  # the width bound is reached: change the stroke count, restart the bracket
                n = len(geo.params.strokes)
                geo, k = self._recount(geo, rng, gamma, y, k_range)
                if len(geo.params.strokes) == n:
                    return None  # at the count's limits too: fresh strokes
                below, above = 0.0, math.inf
                continue
            if ratio <= lo:
                below = max(below, k)
            else:
                above = min(above, k)
            guess = 4.0 * k if ratio <= 0 else width_scale_for(a, b, gamma, y, self._area)
            if not below < guess < above:
                guess = 2.0 * below if math.isinf(above) else 0.5 * (below + above)
            k = min(max(guess, k_range[0]), k_range[1])
        return None

    def _solve(self, index: int) -> tuple[MaskParams, np.ndarray]:
        if index < 0:
            raise ValueError(f"Expected index >= 0, got {index}")
        for attempt in range(ATTEMPTS):
            params, aim, rng = self._sample(index, () if attempt == 0 else (attempt,))
            found = self._steer(params, aim, rng, STEPS, self._gamma, self._k_range)
            if found is not None:
                return found
        # last resort: no augmentation, aim at the middle, a wider width range, many steps
        params, _, rng = self._sample(index, ())
        found = self._steer(dataclasses.replace(params, augment=None), 0.5, rng, FALLBACK_STEPS, self._gamma, K_FALLBACK)
        if found is None:
            raise InputError(f"Could not make mask {index} with a hole ratio in ({self.ratio_range[0]}, {self.ratio_range[1]}]"
                             f" and the border condition at {'x'.join(map(str, self.config.size))}: pass a larger --size, "
                             "more drawings (--strokes) or another --seed (masks already written are kept: --resume continues)")
        return found
