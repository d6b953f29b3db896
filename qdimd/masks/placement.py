"""Where a mask's strokes land: the transform from Quick, Draw! coordinates to output pixels.

Version 2 (:data:`qdimd.masks.params.MASK_VERSION`): the bounding box of the union
of a mask's stroke points is fitted into the canvas (or a record's ``fit_box``),
aspect kept, :data:`FIT_MARGIN` of the box's side left free on each side, centred
(on a box that is not square the Quick, Draw! square is first stretched onto it per
axis, as in version 1, so strokes still span it);
then Algorithm 1's upscale enlarges it about the box centre, and a record's
``offset`` translates it. Each mask is also mirrored left-right and top-bottom with
probability 1/2 each (``MaskParams.mirror``): Quick, Draw! anchors every drawing at
the top-left corner, so even a centred union has most of its ink in its own
top-left part (quadrant densities 0.252 / 0.214 / 0.194 / 0.144 over 3,000 masks at 256
with the fit alone); the mirrors make the expected hole density exactly symmetric.
The fit is what plotting the strokes on autoscaled
matplotlib axes did in the code QD-IMD grew out of (karfly/inpaint), except that
matplotlib scales each axis on its own; keeping the aspect leaves the human
strokes undistorted. A union without extent (single points only) lands at the centre.

Version 1: Quick, Draw! positions kept, the 256x256 space stretched onto the
canvas per axis (drawings are aligned to the top-left corner, hence version 1's
top-left bias).

Every function broadcasts: floats for one mask (the sampler's Python path) or
arrays for a batch (:func:`qdimd.masks.generator.stroke_geometry`).
"""
from __future__ import annotations

import numpy as np

QD_SIZE = 256.0
"""Side of the Quick, Draw! simplified coordinate space (coordinates 0..255)."""
FIT_MARGIN = 0.05
"""Share of the box's side left free on each side of the fitted strokes (matplotlib's default axes margin)."""
_NO_EXTENT = 1e-9


def qd_to_pixels_v1(upscale, side):
    """Version 1: scale and shift from Quick, Draw! coordinates to output px along an axis of ``side`` px.

    ``x' = side/2 + ((x + 0.5) * side / 256 - side/2) * upscale = x * scale + shift``: the
    upscale and centre crop.

    Returns:
        ``(scale, shift)``.
    """
    scale = upscale * (side / QD_SIZE)
    return scale, 0.5 * scale + side / 2.0 * (1.0 - upscale)


def fit_transform(union, box, upscale, mirror_x, mirror_y):
    """Version 2: the scales and shifts that fit a union of strokes into ``box``, mirror it, then upscale.

    Args:
        union: ``(x0, y0, x1, y1)`` bounding box of the strokes' Quick, Draw! points (inclusive).
        box: ``(top, left, bottom, right)`` in output px.
        upscale: enlargement about the box centre.
        mirror_x, mirror_y: mirror left-right, top-bottom (about the box centre).

    Returns:
        ``(scale_x, shift_x, scale_y, shift_y)``: a point goes to ``(x * scale_x + shift_x, y * scale_y + shift_y)``
        (``scale_x = -scale_y`` when only one axis is mirrored).
    """
    x0, y0, x1, y1 = union
    top, left, bottom, right = box
    free = 1.0 - 2.0 * FIT_MARGIN
    lower, upper = (np.minimum, np.maximum) if isinstance(x0, np.ndarray) else (min, max)  # floats: ~5x faster
    fit = lower(free * QD_SIZE / upper(x1 - x0, _NO_EXTENT), free * QD_SIZE / upper(y1 - y0, _NO_EXTENT))
    sx = fit * upscale * (right - left) / QD_SIZE * (1.0 - 2.0 * mirror_x)
    sy = fit * upscale * (bottom - top) / QD_SIZE * (1.0 - 2.0 * mirror_y)
    return sx, (left + right) / 2.0 - (x0 + x1) / 2.0 * sx, sy, (top + bottom) / 2.0 - (y0 + y1) / 2.0 * sy


def mask_transforms(version, union, fit_box, upscale, mirror, offset, size) -> tuple[np.ndarray, np.ndarray]:
    """Per-mask scale and shift, ``(B, 2)`` each (x then y), for records of either version.

    Args:
        version: ``(B,)`` mask versions.
        union: ``(B, 4)`` x0, y0, x1, y1 of each mask's strokes (unused for version 1).
        fit_box: ``(B, 4)`` top, left, bottom, right (the canvas where a record has none).
        upscale: ``(B,)``.
        mirror: ``(B, 2)`` bool, left-right and top-bottom.
        offset: ``(B, 2)`` dy, dx.
        size: ``(H, W)``.
    """
    h, w = size
    scale_v1, shift_v1 = qd_to_pixels_v1(upscale[:, None], np.array([w, h], np.float64))
    sx, bx, sy, by = fit_transform(union.T, fit_box.T, upscale, mirror[:, 0], mirror[:, 1])
    v1 = (version == 1)[:, None]
    scale = np.where(v1, scale_v1, np.stack([sx, sy], axis=1))
    shift = np.where(v1, shift_v1, np.stack([bx, by], axis=1)) + offset[:, ::-1]
    return scale, shift


def union_box(points: np.ndarray, stroke_starts: np.ndarray, strokes) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` of the points of ``strokes`` (plain ndarray views of the store's arrays)."""
    qd = np.concatenate([points[stroke_starts.item(s):stroke_starts.item(s + 1)] for s in strokes])
    (x0, y0), (x1, y1) = np.minimum.reduce(qd, axis=0).tolist(), np.maximum.reduce(qd, axis=0).tolist()
    return float(x0), float(y0), float(x1), float(y1)
