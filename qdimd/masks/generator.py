"""QD-IMD masks: Algorithm 1 of Iskakov 2018, "Semi-parametric Image Inpainting".

One mask: draw ``n ~ round(N(4, 2))`` strokes (at least 1); each is one stroke
picked uniformly from a drawing picked uniformly from the pool, kept at its
Quick, Draw! position scaled to the canvas, with a width ``~ U(5, 15)`` px
defined at a reference size of 256 and scaled by ``min(H, W) / 256``; upscale
the image by ``~ U(1.0, 1.5)``, centre-crop it to the output size, binarise.

Implementation notes and deviations:

* The upscale and centre crop are a coordinate transform about the image centre,
  ``x' = W/2 + (x - W/2) * upscale`` (same for ``y``), and the stroke widths are
  multiplied by ``upscale`` too, exactly as if the whole rendered image had been
  enlarged. Drawing the strokes directly at the output size is equivalent up to
  interpolation and far faster than rendering large and cropping. The renderer
  is alias-free, so its output is already binary.
* The 256x256 Quick, Draw! space maps onto an ``H x W`` canvas per axis: point
  ``(x, y)`` in 0..255 is the pixel centre ``((x + 0.5) * W / 256,
  (y + 0.5) * H / 256)``. On a non-square canvas drawings are stretched along the
  longer side (so they still span the canvas); widths stay round discs of
  ``width * min(H, W) / 256`` px.
* Determinism: mask ``i`` of seed ``s`` draws from :func:`mask_rng` ``(s, i)``
  only, so it is a pure function of (config, store, seed, index), whatever the
  worker count, order or process. Parameters are first sampled into a
  :class:`MaskParams` record (stored in manifests), then rendered;
  :func:`render_mask` rebuilds the mask from the record alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

from .params import MaskConfig, MaskParams
from .render import apply_clip_box, create_canvas, padded_point_index

if TYPE_CHECKING:  # pragma: no cover
    from ..strokes.store import StrokeStore

QD_SIZE = 256.0
"""Side of the Quick, Draw! simplified coordinate space (coordinates 0..255)."""

__all__ = ["QD_SIZE", "MaskConfig", "MaskGenerator", "MaskParams", "hole_to_valid", "mask_rng", "render_mask",
           "sample_mask_params", "stroke_geometry"]


def mask_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of mask ``index`` of ``seed``: ``np.random.default_rng([seed, index])``.

    NumPy's ``SeedSequence`` hashes the pair, so neighbouring indices and seeds
    give independent streams, identical on every platform and process.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"Expected seed >= 0 and index >= 0, got seed={seed}, index={index}")
    return np.random.default_rng([seed, index])


def sample_mask_params(
    rng: np.random.Generator, config: MaskConfig, store: "StrokeStore", pool: np.ndarray, index: int, seed: int
) -> MaskParams:
    """Draw the parameters of one mask (Algorithm 1, before rendering).

    Args:
        rng: the mask's generator, normally ``mask_rng(seed, index)``.
        config: the algorithm's parameters.
        store: the strokes.
        pool: ``(D,)`` int64 drawing ids to draw from (``store.drawing_pool(config.split)``), or a
            ``range`` (e.g. ``range(store.n_drawings)``: no array of 50 M ids in memory).
        index, seed: recorded in the result.

    Returns:
        The record; :func:`render_mask` turns it into the mask.
    """
    if len(pool) == 0:
        raise ValueError("Expected a non-empty drawing pool, got no drawings (check --split and the stroke source)")
    n = max(config.min_strokes, int(round(config.strokes_mean + config.strokes_std * rng.standard_normal())))
    u = rng.random(3 * n + 1).tolist()  # drawings | stroke within drawing | widths | upscale
    # Scalar Python on purpose: for ~4 strokes it is several times faster than numpy calls.
    size, drawing_starts = len(pool), np.asarray(store.drawing_starts)  # plain view: memmap indexing is slow
    if isinstance(pool, range):
        drawings = [pool[int(x * size)] for x in u[:n]]
    else:
        pool = np.asarray(pool)
        drawings = [pool.item(int(x * size)) for x in u[:n]]
    strokes = []
    for d, x in zip(drawings, u[n:2 * n]):
        first, end = drawing_starts.item(d), drawing_starts.item(d + 1)
        strokes.append(first + int(x * (end - first)))
    scale = min(config.size) / config.reference_size
    w0, dw = config.width_min, config.width_max - config.width_min
    widths = tuple((w0 + dw * x) * scale for x in u[2 * n:3 * n])
    upscale = config.upscale_min + (config.upscale_max - config.upscale_min) * u[3 * n]
    if not config.allow_empty:
        points, stroke_starts = np.asarray(store.points), np.asarray(store.stroke_starts)
        for _ in range(_MAX_REDRAWS):
            if _any_stroke_visible(points, stroke_starts, strokes, upscale, config.size):
                break
            # Rare (~0.8% at 256): no stroke point lands on the canvas. Redraw them from the same generator.
            for i, (x, y) in enumerate(rng.random((n, 2)).tolist()):
                drawings[i] = int(pool[int(x * size)])
                first, end = drawing_starts.item(drawings[i]), drawing_starts.item(drawings[i] + 1)
                strokes[i] = first + int(y * (end - first))
    augment = None
    if config.augment is not None:
        from .augment import sample_augment_params

        augment = sample_augment_params(rng, config.augment, config.size)
    return MaskParams(
        index=int(index), seed=int(seed), drawings=tuple(drawings), strokes=tuple(strokes),
        widths=widths, upscale=upscale, augment=augment,
    )


_MAX_REDRAWS = 64
"""Redraws of a mask whose strokes all land off the canvas before it is kept empty (never reached on real data)."""


def _any_stroke_visible(points: np.ndarray, stroke_starts: np.ndarray, strokes: list[int], upscale: float,
                        size: tuple[int, int]) -> bool:
    """Whether some point of the drawn strokes lies on the ``(H, W)`` canvas.

    Such a point's disc (any width over 1.5 px) covers its own pixel, so the mask is not
    empty. First a pure-Python test of each stroke's first point (nearly always decides),
    then every point.

    Args:
        points, stroke_starts: the store's arrays as plain ndarray views (memmap indexing is slow).
    """
    h, w = size
    (sx, bx), (sy, by) = _qd_to_pixels(upscale, w), _qd_to_pixels(upscale, h)
    for stroke in strokes:
        first = stroke_starts.item(stroke)
        if 0 <= points.item(first, 0) * sx + bx < w and 0 <= points.item(first, 1) * sy + by < h:
            return True
    for stroke in strokes:
        xy = points[stroke_starts.item(stroke):stroke_starts.item(stroke + 1)] * np.array([sx, sy]) + np.array([bx, by])
        if ((xy >= 0) & (xy < np.array([w, h]))).all(axis=1).any():
            return True
    return False


def _qd_to_pixels(upscale, side):
    """Scale and shift from Quick, Draw! coordinates to output px along an axis of ``side`` px.

    ``x' = side/2 + ((x + 0.5) * side / 256 - side/2) * upscale = x * scale + shift``: the
    upscale and centre crop. Floats give floats (the per-mask Python path); arrays broadcast.

    Returns:
        ``(scale, shift)``.
    """
    scale = upscale * (side / QD_SIZE)
    return scale, 0.5 * scale + side / 2.0 * (1.0 - upscale)


def stroke_geometry(params_list: list[MaskParams], config: MaskConfig, store: "StrokeStore") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Output-pixel polylines of several masks at once (vectorised gather and transform).

    Returns:
        ``(points, counts, widths, strokes_per_mask)``: ``(P, 2)`` float64 x, y of all strokes
        of all masks concatenated, one-point strokes repeated so every ``counts`` entry is >= 2;
        ``(S,)`` int64 counts; ``(S,)`` float64 drawn widths; ``(B,)`` int64 strokes per mask.
    """
    per_mask = np.fromiter((len(p.strokes) for p in params_list), np.int64, len(params_list))
    strokes = np.fromiter((s for p in params_list for s in p.strokes), np.int64, int(per_mask.sum()))
    starts_all = np.asarray(store.stroke_starts)
    starts = starts_all[strokes]
    index, counts = padded_point_index(starts, starts_all[strokes + 1] - starts)
    qd = np.asarray(store.points)[index].astype(np.float64)
    h, w = config.size
    up = np.array([p.upscale for p in params_list], np.float64)
    scale, shift = _qd_to_pixels(up[:, None], np.array([w, h], np.float64))  # (B, 2) each, x then y
    shift = shift + np.array([p.offset for p in params_list], np.float64).reshape(-1, 2)[:, ::-1]  # offset is (dy, dx)
    mask_of_point = np.repeat(np.repeat(np.arange(len(params_list)), per_mask), counts)
    points = qd * scale[mask_of_point] + shift[mask_of_point]
    widths = np.fromiter((v * p.upscale for p in params_list for v in p.widths), np.float64, len(strokes))
    return points, counts, widths, per_mask


def _finish(hole: np.ndarray, params: MaskParams) -> np.ndarray:
    """Augmentation, then the clip box (in place where possible)."""
    if params.augment is not None:
        from .augment import apply_augment

        hole = apply_augment(hole, params.augment)
    return apply_clip_box(hole, params.clip_box)


def render_mask(params: MaskParams, config: MaskConfig, store: "StrokeStore", *, canvas=None) -> np.ndarray:
    """Render one mask from its record.

    Args:
        params: from :func:`sample_mask_params` (or a manifest row via :meth:`MaskParams.from_dict`).
        config: the config it was sampled with (size and renderer are used).
        store: the same stroke store.
        canvas: optional reusable canvas (:func:`qdimd.masks.render.create_canvas`) of ``config.size``.

    Returns:
        ``(H, W)`` bool, True = hole.
    """
    if canvas is None:
        canvas = create_canvas(config.size, config.renderer)
    points, counts, widths, _ = stroke_geometry([params], config, store)
    hole = canvas.draw(points, counts, widths) != 0
    return _finish(hole, params)


def hole_to_valid(hole: np.ndarray) -> np.ndarray:
    """PConv's convention: float32, 1 = known pixel, 0 = hole (any shape)."""
    return np.logical_not(np.asarray(hole, dtype=bool)).astype(np.float32)


class MaskGenerator:
    """Seeded QD-IMD masks: mask ``i`` is always the same for a (config, store, seed).

    Args:
        config: the algorithm's parameters.
        store: stroke store; None = the bundled Quick, Draw! sample.
        seed: >= 0.

    Example:
        >>> gen = MaskGenerator(MaskConfig(size=(256, 256)), seed=0)
        >>> hole = gen.generate(7)            # (256, 256) bool, True = hole
        >>> holes = gen.batch(0, 64)          # (64, 256, 256) bool
    """

    def __init__(self, config: MaskConfig = MaskConfig(), store: "StrokeStore | None" = None, seed: int = 0):
        if seed < 0:
            raise ValueError(f"Expected seed >= 0, got {seed}")
        if store is None:
            from ..strokes.store import load_default_store

            store = load_default_store()
        self.config, self.store, self.seed = config, store, int(seed)
        if config.split is None:
            self.pool = range(store.n_drawings)
        else:
            self.pool = np.asarray(store.drawing_pool(config.split), dtype=np.int64)
        if len(self.pool) == 0:
            raise ValueError(f"Expected drawings in the pool, got none for split={config.split!r}")
        self.canvas = create_canvas(config.size, config.renderer)

    def params(self, index: int) -> MaskParams:
        """The record of mask ``index``."""
        return sample_mask_params(mask_rng(self.seed, index), self.config, self.store, self.pool, index, self.seed)

    def generate(self, index: int) -> np.ndarray:
        """Mask ``index``: ``(H, W)`` bool, True = hole."""
        return render_mask(self.params(index), self.config, self.store, canvas=self.canvas)

    def render(self, params_list: list[MaskParams], out: np.ndarray | None = None) -> np.ndarray:
        """Render many records into ``(B, H, W)`` bool (fast path: one vectorised gather)."""
        h, w = self.config.size
        if out is None:
            out = np.empty((len(params_list), h, w), dtype=bool)
        if not params_list:
            return out
        points, counts, widths, per_mask = stroke_geometry(params_list, self.config, self.store)
        rows = self.canvas.prepare(points, counts)
        counts_list, widths_list = counts.tolist(), widths.tolist()
        s0 = p0 = 0
        for i, (params, n) in enumerate(zip(params_list, per_mask.tolist())):
            s1 = s0 + n
            p1 = p0 + sum(counts_list[s0:s1])
            pixels = self.canvas.draw_prepared(rows[p0:p1], counts_list[s0:s1], widths_list[s0:s1])
            np.not_equal(pixels, 0, out=out[i])
            if params.augment is not None or params.clip_box is not None:
                out[i] = _finish(out[i].copy(), params)
            s0, p0 = s1, p1
        return out

    def batch(self, start: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Masks ``start .. start + n - 1``: ``(n, H, W)`` bool (written into ``out`` if given)."""
        if start < 0 or n < 0:
            raise ValueError(f"Expected start >= 0 and n >= 0, got start={start}, n={n}")
        return self.render([self.params(i) for i in range(start, start + n)], out=out)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Masks 0, 1, 2, ... forever."""
        index = 0
        while True:
            yield self.generate(index)
            index += 1
