"""LaMa's masks (Suvorov et al. 2022, "Resolution-robust Large Mask Inpainting with Fourier Convolutions").

Kinds ``lama-thin``, ``lama-medium``, ``lama-thick``: the test masks of
``configs/data_gen/random_{thin,medium,thick}_{256,512}.yaml`` through the selection of
``bin/gen_mask_dataset.py``; ``lama-train``: the mix Big-LaMa trains with
(``configs/training/data/abl-04-256-mh-dist.yaml``). What the originals draw:

* Irregular strokes (``make_random_irregular_mask``): ``n ~ U{min_times .. max_times + 1}``
  strokes (the ``+ 1`` is the unramped ``RandomIrregularMaskGenerator``: ``cur_max_times =
  min_times + 1 + (max_times - min_times)``, kept); each starts at a uniform pixel and has
  ``1 + U{0..4}`` segments; a segment's angle is ``0.01 + U{0 .. max_angle - 1}`` *radians*
  (so only 4 directions, mirrored to ``2 * 3.1415926 - angle`` for even strokes; kept: it is
  what the published masks look like), length ``10 + U{0 .. max_len - 1}``, width ``5 + U{0 ..
  max_width - 1}`` px; the end is truncated to int and clipped to ``[0, W] x [0, H]``, and
  drawn as an OpenCV 8-connected thick line (round caps) from the previous end.
* Boxes (``make_random_rectangle_mask``): ``U{min_times .. max_times}`` boxes, sides
  ``U{bbox_min .. min(bbox_max + 1, H - 2m, W - 2m) - 1}`` (the unramped ``+ 1`` again) and
  corners uniform inside the margin ``m``.
* ``MixedMaskGenerator`` picks strokes or boxes with probabilities ``irregular_proba`` and
  ``box_proba`` renormalised (medium/thick: 1 : 0.3; training: 1 : 1/3, the default box
  settings because the config leaves boxes out and the generator's default is 1/3).
* ``gen_mask_dataset.py`` draws 5 variants per image, drops those covering more than 50%
  and keeps one at random. Keeping a uniform pick of the accepted i.i.d. variants is the same
  distribution as redrawing one mask until it covers at most 50%, which is what we do (5x
  less work). Images are square crops; we draw at the output size directly, as the original
  does for a square image (its crop then covers the whole mask).
* Sizes: the 256 config below a short side of 362 px, else the 512 one; lengths, widths,
  margins and box sides are scaled by ``min(H, W) / base`` (exactly the originals at 256 and
  512). ``lama-train`` is the 256 config scaled the same way.
* Training boxes may be 0 (``min_times=0``): 1/4 x 1/4 of ``lama-train`` masks are empty, as
  in LaMa (kept).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .records import MAX_TRIES, as_hole, canvas_of, check_size, fill_boxes

__all__ = ["LAMA_KINDS", "LamaOptions", "LamaParams", "lama_preset", "render_lama", "sample_lama_params"]

LAMA_KINDS = ("lama-thin", "lama-medium", "lama-thick", "lama-train")

# (min_times, max_times, max_width, max_angle, max_len) of the strokes; (margin, bbox_min, bbox_max,
# min_times, max_times) of the boxes; box probability next to stroke probability 1; max hole share.
_PRESETS = {
    ("lama-thin", 256): ((4, 50, 10, 4, 40), None, 0.0, 0.5),
    ("lama-thin", 512): ((4, 70, 20, 4, 100), None, 0.0, 0.5),
    ("lama-medium", 256): ((4, 5, 50, 4, 100), (0, 10, 50, 1, 5), 0.3, 0.5),
    ("lama-medium", 512): ((4, 10, 100, 4, 200), (0, 30, 150, 1, 5), 0.3, 0.5),
    ("lama-thick", 256): ((1, 5, 100, 4, 200), (10, 30, 150, 1, 3), 0.3, 0.5),
    ("lama-thick", 512): ((1, 5, 250, 4, 450), (10, 30, 300, 1, 4), 0.3, 0.5),
    ("lama-train", 256): ((1, 3, 20, 4, 100), (10, 30, 100, 0, 3), 1 / 3, None),
}


@dataclass(frozen=True)
class LamaOptions:
    """Options of the LaMa kinds.

    Args:
        base: the config's size, 256 or 512; 0 = by the output size (256 below a short side of
            362 px; ``lama-train`` has only 256).
    """

    base: int = 0

    def __post_init__(self) -> None:
        if self.base not in (0, 256, 512):
            raise ValueError(f"Expected base 0 (auto), 256 or 512, got {self.base!r}")


@dataclass(frozen=True)
class LamaParams:
    """One LaMa mask.

    Attributes:
        segments: ``(x0, y0, x1, y1, width)`` thick lines in px.
        boxes: ``(top, left, bottom, right)`` boxes, exclusive ends.
        tries: draws until the selection accepted this one (1 without selection).
    """

    segments: tuple[tuple[int, int, int, int, int], ...] = ()
    boxes: tuple[tuple[int, int, int, int], ...] = ()
    tries: int = 1


def lama_preset(kind: str, height: int, width: int, options: LamaOptions = LamaOptions()):
    """``(strokes, boxes, box_proba, max_area, scale)`` of a kind at a size (scaled settings)."""
    if kind not in LAMA_KINDS:
        raise ValueError(f"Expected a LaMa kind in {LAMA_KINDS}, got {kind!r}")
    short = min(check_size(height, width))
    base = options.base or (256 if kind == "lama-train" or short < 362 else 512)
    if (kind, base) not in _PRESETS:
        raise ValueError(f"Expected base 256 for {kind} (the only config LaMa has), got {base}")
    strokes, boxes, box_proba, max_area = _PRESETS[(kind, base)]
    scale = short / base
    if scale != 1.0:
        strokes = strokes[:2] + (max(1, round(strokes[2] * scale)), strokes[3], max(1, round(strokes[4] * scale)))
        if boxes is not None:
            boxes = tuple(max(1, round(v * scale)) if k in (1, 2) else (round(v * scale) if k == 0 else v)
                          for k, v in enumerate(boxes))
    return strokes, boxes, box_proba, max_area, scale


def _sample_strokes(rng: np.random.Generator, settings, h: int, w: int, scale: float) -> list:
    min_times, max_times, max_width, max_angle, max_len = settings
    top = max_times + 1  # the unramped generator's cur_max_times
    times = min_times + int(rng.random() * (top + 1 - min_times))
    len0, width0 = (10, 5) if scale == 1.0 else (max(1, round(10 * scale)), max(1, round(5 * scale)))
    segments, sin, cos = [], math.sin, math.cos
    # Scalar Python on purpose: a few dozen segments are several times faster than numpy calls.
    for i, row in enumerate(rng.random((times, 18)).tolist()):
        x, y = int(row[0] * w), int(row[1] * h)
        for j in range(1 + int(row[2] * 5)):
            angle = 0.01 + int(row[3 + 3 * j] * max_angle)
            if i % 2 == 0:
                angle = 2 * 3.1415926 - angle
            length = len0 + int(row[4 + 3 * j] * max_len)
            brush = width0 + int(row[5 + 3 * j] * max_width)
            x1 = int(x + length * sin(angle))
            x1 = 0 if x1 < 0 else (w if x1 > w else x1)
            y1 = int(y + length * cos(angle))
            y1 = 0 if y1 < 0 else (h if y1 > h else y1)
            segments.append((x, y, x1, y1, brush))
            x, y = x1, y1
    return segments


def _sample_boxes(rng: np.random.Generator, settings, h: int, w: int) -> list:
    margin, bbox_min, bbox_max, min_times, max_times = settings
    top = max(1, min(bbox_max + 1, h - 2 * margin, w - 2 * margin))
    low = min(bbox_min, top - 1)
    n = min_times + int(rng.random() * (max_times - min_times + 1))
    boxes = []
    for u_w, u_h, u_x, u_y in rng.random((n, 4)).tolist():
        bw, bh = max(1, low + int(u_w * (top - low))), max(1, low + int(u_h * (top - low)))
        x = margin + int(u_x * max(1, w - 2 * margin - bw + 1))
        y = margin + int(u_y * max(1, h - 2 * margin - bh + 1))
        boxes.append((y, x, y + bh, x + bw))
    return boxes


def sample_lama_params(rng: np.random.Generator, kind: str, height: int, width: int,
                       options: LamaOptions = LamaOptions(), *, out: np.ndarray | None = None) -> LamaParams:
    """Draw one mask of a LaMa kind.

    Args:
        rng: the mask's generator.
        kind: one of :data:`LAMA_KINDS`.
        height, width: output size.
        options: see :class:`LamaOptions`.
        out: optional ``(H, W)`` bool array that receives the mask (the selection renders it anyway).

    Returns:
        The record.
    """
    h, w = check_size(height, width)
    strokes, boxes, box_proba, max_area, scale = lama_preset(kind, h, w, options)
    p_strokes = 1.0 / (1.0 + box_proba)
    for tries in range(1, MAX_TRIES + 1):
        if boxes is None or rng.random() < p_strokes:
            params = LamaParams(segments=tuple(_sample_strokes(rng, strokes, h, w, scale)), tries=tries)
        else:
            params = LamaParams(boxes=tuple(_sample_boxes(rng, boxes, h, w)), tries=tries)
        if max_area is None and out is None:
            return params
        hole = render_lama(params, h, w, out=out)
        if max_area is None or np.count_nonzero(hole) <= max_area * hole.size:
            return params
    raise ValueError(f"Expected a {kind} mask covering at most {max_area} of {h}x{w} within {MAX_TRIES} draws, got none")


def render_lama(params: LamaParams, height: int, width: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W)`` bool hole (True = hole) of a record (drawn into ``out`` if given)."""
    import cv2

    canvas = canvas_of(height, width, out)
    line = cv2.line
    for x0, y0, x1, y1, brush in params.segments:
        line(canvas, (x0, y0), (x1, y1), 1, brush)
    return as_hole(fill_boxes(canvas, params.boxes))
