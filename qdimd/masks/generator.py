"""QD-IMD masks: Algorithm 1 of Iskakov 2018, "Semi-parametric Image Inpainting".

One mask: draw ``n ~ round(N(4, 2))`` strokes (at least 1); each is one stroke
picked uniformly from a drawing picked uniformly from the pool, with a width
``~ U(5, 15)`` px defined at a reference size of 256 and scaled by
``min(H, W) / 256``; place the strokes on the canvas; upscale the image by
``~ U(1.0, 1.5)``, centre-crop it to the output size, binarise.

Placement (mask version 2, :data:`qdimd.masks.params.MASK_VERSION`): the strokes'
union is fitted to the canvas, as the code QD-IMD grew out of did by plotting
them on autoscaled matplotlib axes (karfly/inpaint): the bounding box of all of a
mask's stroke points is scaled (aspect kept, so strokes are not distorted; a
deviation from matplotlib's per-axis autoscale) until it spans the canvas less a
margin of :data:`qdimd.masks.placement.FIT_MARGIN` of the side (matplotlib's default
axes margin) and is centred on it, then mirrored left-right and top-bottom with
probability 1/2 each. Stroke widths are in px, independent of that scale, like
matplotlib's line widths. Quick, Draw! aligns every drawing to the top-left
corner, so keeping the strokes' own positions (version 1) crowds holes into the
top-left (quadrant densities 0.237 / 0.186 / 0.157 / 0.108 over 3,000 masks at 256);
the fit and the mirrors remove that bias (0.200 / 0.201 / 0.203 / 0.200).

Implementation notes and deviations:

* The upscale and centre crop are a coordinate transform about the image centre,
  ``x' = W/2 + (x - W/2) * upscale`` (same for ``y``), and the stroke widths are
  multiplied by ``upscale`` too, exactly as if the whole rendered image had been
  enlarged. Drawing the strokes directly at the output size is equivalent up to
  interpolation and far faster than rendering large and cropping. The renderer
  is alias-free, so its output is already binary.
* A mask whose strokes are all a single point (no extent) is a dot at the centre.
* Version 1 (records and configs written before versions existed): the 256x256
  Quick, Draw! space maps onto an ``H x W`` canvas per axis, point ``(x, y)`` in
  0..255 at the pixel centre ``((x + 0.5) * W / 256, (y + 0.5) * H / 256)``.
* Determinism: mask ``i`` of seed ``s`` draws from :func:`mask_rng` ``(s, i)``
  only, so it is a pure function of (config, store, seed, index), whatever the
  worker count, order or process. Parameters are first sampled into a
  :class:`MaskParams` record (stored in manifests), then rendered;
  :func:`render_mask` rebuilds the mask from the record alone.
* No empty masks (unless ``allow_empty``): strokes none of whose points lands on
  the canvas are redrawn, and (version 2) so is an augmentation that leaves no
  hole (:func:`sample_mask`); after :data:`_MAX_REDRAWS` tries the mask is kept
  without augmentation.
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator

import numpy as np

from .params import MaskConfig, MaskParams
from .placement import QD_SIZE, fit_transform, mask_transforms, qd_to_pixels_v1, union_box
from .render import apply_clip_box, create_canvas, padded_point_index

if TYPE_CHECKING:  # pragma: no cover
    from ..strokes.store import StrokeStore

__all__ = ["QD_SIZE", "MaskConfig", "MaskGenerator", "MaskParams", "hole_to_valid", "mask_rng", "render_mask",
           "draw_record", "drawing_pool", "sample_mask", "sample_mask_params", "stroke_geometry"]


def drawing_pool(store: "StrokeStore", split: str | None) -> "np.ndarray | range":
    """The drawings a generator draws from: ``range(n_drawings)`` for all (no array in memory), else the
    split's ``(K,)`` int64 ids (:meth:`qdimd.strokes.store.StrokeStore.drawing_pool`). Compute it once and
    pass it to every generator of the same store and split (``pool=``): 8 bytes a drawing each otherwise."""
    if split is None:
        return range(store.n_drawings)
    return np.asarray(store.drawing_pool(split), dtype=np.int64)


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
    version = config.mask_version
    u = rng.random(3 * n + (1 if version == 1 else 3)).tolist()  # drawings | stroke in drawing | widths | upscale | mirrors
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
    mirror = (False, False) if version == 1 else (u[3 * n + 1] < 0.5, u[3 * n + 2] < 0.5)
    if not config.allow_empty:
        points, stroke_starts = np.asarray(store.points), np.asarray(store.stroke_starts)
        for _ in range(_MAX_REDRAWS):
            if _any_stroke_visible(points, stroke_starts, strokes, upscale, mirror, config.size, version):
                break
            # Rare (~0.8% at 256 in version 1): no stroke point lands on the canvas. Redraw them from the same generator.
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
        widths=widths, upscale=upscale, augment=augment, version=version, mirror=mirror,
    )


_MAX_REDRAWS = 64
"""Redraws of strokes that all land off the canvas, or of an augmentation that empties a mask, before
giving up (the strokes are then kept, the augmentation dropped; never reached on real data)."""


def _any_stroke_visible(points: np.ndarray, stroke_starts: np.ndarray, strokes: list[int], upscale: float,
                        mirror: tuple[bool, bool], size: tuple[int, int], version: int) -> bool:
    """Whether some point of the drawn strokes lies on the ``(H, W)`` canvas.

    Such a point's disc (any width over 1.5 px) covers its own pixel, so the mask is not
    empty. First a pure-Python test of each stroke's first point (nearly always decides),
    then every point.

    Args:
        points, stroke_starts: the store's arrays as plain ndarray views (memmap indexing is slow).
    """
    h, w = size
    if version == 1:
        (sx, bx), (sy, by) = qd_to_pixels_v1(upscale, w), qd_to_pixels_v1(upscale, h)
    else:
        union = union_box(points, stroke_starts, strokes)
        sx, bx, sy, by = fit_transform(union, (0.0, 0.0, float(h), float(w)), upscale, *mirror)
    for stroke in strokes:
        first = stroke_starts.item(stroke)
        if 0 <= points.item(first, 0) * sx + bx < w and 0 <= points.item(first, 1) * sy + by < h:
            return True
    for stroke in strokes:
        xy = points[stroke_starts.item(stroke):stroke_starts.item(stroke + 1)] * np.array([sx, sy]) + np.array([bx, by])
        if ((xy >= 0) & (xy < np.array([w, h]))).all(axis=1).any():
            return True
    return False


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
    mask_of_point = np.repeat(np.repeat(np.arange(len(params_list)), per_mask), counts)
    first_point = np.searchsorted(mask_of_point, np.arange(len(params_list)))
    union = np.concatenate([np.minimum.reduceat(qd, first_point), np.maximum.reduceat(qd, first_point)], axis=1)
    canvas = (0.0, 0.0, float(h), float(w))
    scale, shift = mask_transforms(  # (B, 2) each, x then y
        np.fromiter((p.version for p in params_list), np.int64, len(params_list)), union,
        np.array([canvas if p.fit_box is None else p.fit_box for p in params_list], np.float64),
        np.fromiter((p.upscale for p in params_list), np.float64, len(params_list)),
        np.array([p.mirror for p in params_list], bool).reshape(-1, 2),
        np.array([p.offset for p in params_list], np.float64).reshape(-1, 2), (h, w))
    points = qd * scale[mask_of_point] + shift[mask_of_point]
    widths = np.fromiter((v * p.upscale for p in params_list for v in p.widths), np.float64, len(strokes))
    return points, counts, widths, per_mask


def draw_record(canvas, points: np.ndarray, counts: np.ndarray, widths: np.ndarray, params: MaskParams) -> np.ndarray:
    """Draw one record's strokes (from :func:`stroke_geometry`) and finish the mask: augmentation, clip box.

    Version 2 applies the augmentation's rotation and crop to the strokes before drawing them
    (:func:`qdimd.masks.augment.stroke_affine`: exact, as smooth as a fresh render); version 1
    resamples the rendered mask (:func:`qdimd.masks.augment.apply_augment`).

    Returns:
        ``(H, W)`` bool, True = hole (a new array).
    """
    augment = params.augment
    if augment is None:
        return canvas.draw(points, counts, widths, params.clip_box) != 0
    from .augment import apply_augment, apply_augment_after_drawing, stroke_affine

    if params.version == 1:
        hole = apply_augment(canvas.draw(points, counts, widths) != 0, augment, smooth=False)
        return apply_clip_box(hole, params.clip_box)
    carried = stroke_affine(augment, canvas.shape)
    matrix = None
    if carried is not None:
        matrix, scale = carried
        points, widths = points @ matrix[:, :2].T + matrix[:, 2], np.asarray(widths, np.float64) * scale
    hole = apply_augment_after_drawing(canvas.draw(points, counts, widths) != 0, augment, matrix)
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
    return draw_record(canvas, points, counts, widths, params)


def sample_mask(
    rng: np.random.Generator, config: MaskConfig, store: "StrokeStore", pool: np.ndarray, index: int, seed: int,
    canvas,
) -> tuple[MaskParams, np.ndarray | None]:
    """:func:`sample_mask_params`, then (version 2, with augmentation, unless ``allow_empty``) redraw the
    augmentation from ``rng`` while it leaves no hole (a crop or rotation can move every hole out).

    Args:
        canvas: a canvas of ``config.size`` (:func:`qdimd.masks.render.create_canvas`), used only when the
            mask is augmented.

    Returns:
        ``(params, hole)``: the record, and its ``(H, W)`` bool mask when it had to be rendered (else None).
    """
    params = sample_mask_params(rng, config, store, pool, index, seed)
    if params.augment is None or config.allow_empty or params.version == 1:
        return params, None
    from .augment import sample_augment_params

    points, counts, widths, _ = stroke_geometry([params], config, store)
    for _ in range(_MAX_REDRAWS):
        hole = draw_record(canvas, points, counts, widths, params)
        if hole.any():
            return params, hole
        params = replace(params, augment=sample_augment_params(rng, config.augment, config.size))
    params = replace(params, augment=None)
    return params, draw_record(canvas, points, counts, widths, params)


def hole_to_valid(hole: np.ndarray) -> np.ndarray:
    """PConv's convention: float32, 1 = known pixel, 0 = hole (any shape)."""
    return np.logical_not(np.asarray(hole, dtype=bool)).astype(np.float32)


class MaskGenerator:
    """Seeded QD-IMD masks: mask ``i`` is always the same for a (config, store, seed).

    Args:
        config: the algorithm's parameters.
        store: stroke store; None = the bundled Quick, Draw! sample.
        seed: >= 0.
        pool: the drawing ids to draw from, if already at hand (``store.drawing_pool(config.split)``;
            generators of one store and split can share one array); None = computed here.

    Example:
        >>> gen = MaskGenerator(MaskConfig(size=(256, 256)), seed=0)
        >>> hole = gen.generate(7)            # (256, 256) bool, True = hole
        >>> holes = gen.batch(0, 64)          # (64, 256, 256) bool
    """

    def __init__(self, config: MaskConfig = MaskConfig(), store: "StrokeStore | None" = None, seed: int = 0,
                 pool: "np.ndarray | range | None" = None):
        if seed < 0:
            raise ValueError(f"Expected seed >= 0, got {seed}")
        if store is None:
            from ..strokes.store import load_default_store

            store = load_default_store()
        self.config, self.store, self.seed = config, store, int(seed)
        self.pool = drawing_pool(store, config.split) if pool is None else pool
        if len(self.pool) == 0:
            raise ValueError(f"Expected drawings in the pool, got none for split={config.split!r}")
        self.canvas = create_canvas(config.size, config.renderer)

    def sample(self, index: int) -> tuple[MaskParams, np.ndarray | None]:
        """:func:`sample_mask` of mask ``index``: its record, and its mask if it had to be rendered."""
        return sample_mask(mask_rng(self.seed, index), self.config, self.store, self.pool, index, self.seed, self.canvas)

    def params(self, index: int) -> MaskParams:
        """The record of mask ``index`` (an augmented mask is rendered to check that it is not empty)."""
        return self.sample(index)[0]

    def generate(self, index: int) -> np.ndarray:
        """Mask ``index``: ``(H, W)`` bool, True = hole."""
        params, hole = self.sample(index)
        return render_mask(params, self.config, self.store, canvas=self.canvas) if hole is None else hole

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
            if params.augment is not None:  # drawn on its own (version 2 transforms the strokes first)
                out[i] = draw_record(self.canvas, points[p0:p1], counts[s0:s1], widths[s0:s1], params)
            else:
                pixels = self.canvas.draw_prepared(rows[p0:p1], counts_list[s0:s1], widths_list[s0:s1])
                np.not_equal(pixels, 0, out=out[i])
                apply_clip_box(out[i], params.clip_box)
            s0, p0 = s1, p1
        return out

    def batch(self, start: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Masks ``start .. start + n - 1``: ``(n, H, W)`` bool (written into ``out`` if given)."""
        return self.sample_batch(start, n, out)[1]

    def sample_batch(self, start: int, n: int, out: np.ndarray | None = None) -> tuple[list[MaskParams], np.ndarray]:
        """Records and masks of ``start .. start + n - 1``, each mask rendered once (also augmented ones)."""
        if start < 0 or n < 0:
            raise ValueError(f"Expected start >= 0 and n >= 0, got start={start}, n={n}")
        return self.sample_indices(range(start, start + n), out)

    def sample_indices(self, indices, out: np.ndarray | None = None) -> tuple[list[MaskParams], np.ndarray]:
        """Records and ``(n, H, W)`` bool masks of any ``indices`` (e.g. a shuffled batch), rendered together."""
        h, w = self.config.size
        n = len(indices)
        if out is None:
            out = np.empty((n, h, w), dtype=bool)
        records, todo = [], []
        for k, i in enumerate(indices):
            params, hole = self.sample(int(i))
            records.append(params)
            if hole is None:
                todo.append(k)
            else:
                out[k] = hole
        if len(todo) == n:
            self.render(records, out=out)
        elif todo:
            out[todo] = self.render([records[j] for j in todo])
        return records, out

    def __iter__(self) -> Iterator[np.ndarray]:
        """Masks 0, 1, 2, ... forever."""
        return map(self.generate, itertools.count())
