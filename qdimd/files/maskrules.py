"""What counts as a mask file, and when its polarity looks inverted: one rule for every command.

``qdimd bucket --from``, ``qdimd stats``, ``qdimd preview``, ``inpaint eval``, ``inpaint train
--masks`` and ``inpaint fill`` read masks through :func:`read_mask_gray` and check a folder's
polarity with :func:`polarity_warning`, so a file is a mask (or not) in all of them alike.

**Acceptance** (:func:`mask_problem`). A mask is read as grey as displayed
(:mod:`qdimd.files.imagefile`) and thresholded at 128 (:func:`qdimd.io.hole_from_gray`).
It is refused as "not a mask" when

* it is colourful: more than :data:`MIDTONE_LIMIT` of its pixels have channels more than 48
  levels apart (a photo; grey, black-and-white and tinted-but-grey masks pass), or
* more than :data:`MIDTONE_LIMIT` of its pixels are mid-grey (32..223) *away from any edge*,
  i.e. farther than :data:`EDGE_BAND` px from the 128-threshold boundary.

Anti-aliased edges and JPEG ringing sit on the boundary, so anti-aliased masks pass at any size
(64 px NVIDIA masks downscaled with a box or Lanczos filter: at most 1.4% of pixels away from
an edge); a mask blurred by a Gaussian of radius up to about 2 px passes (3.7% at 512 px),
a heavier blur does not (19% at radius 4) and must be thresholded first; photos never pass
(Kodak24, grey: at least 25%, also at 64 px).

**Polarity** (:func:`polarity_warning`). Masks almost never cover most of an image: the
papers' buckets end at 60% (:data:`qdimd.buckets.DEFAULT_EDGES`), and NVIDIA's
largest masks stay below. When the median mask of a folder is more than
:data:`POLARITY_LIMIT` hole under the polarity in use, the folder is most likely inverted;
commands then warn, naming the folder and the ``--hole-value`` to try, and stop with ``--strict``.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..errors import InputError, ProblemLog
from .imagefile import ImageSource, as_displayed, open_image

MIDTONE_LIMIT = 0.10
"""Largest fraction of colourful pixels, and of mid-grey pixels away from edges, in a mask."""
EDGE_BAND = 2
"""Mid-grey pixels within this many px (chessboard distance) of the 128-threshold boundary are edges."""
POLARITY_LIMIT = 0.6
"""A folder whose median hole ratio exceeds this gets a polarity warning (the papers' last bucket edge)."""
POLARITY_SAMPLE = 64
"""Masks read to check a folder's polarity where a command does not read them all up front (fill, train)."""


def mask_problem(gray: np.ndarray, rgb: np.ndarray | None = None) -> str | None:
    """Why an image is not a mask (see the module docstring), or None when it is one.

    Args:
        gray: ``(H, W)`` uint8 grey.
        rgb: ``(H, W, 3)`` uint8 colour of the same image, when it has colour.
    """
    if gray.ndim != 2 or gray.size == 0:
        return "not a 2-D image"
    if rgb is not None:
        spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
        if np.count_nonzero(spread > 48) > MIDTONE_LIMIT * gray.size:
            return "not a mask (a colour image)"
    midtone = (gray >= 32) & (gray < 224)
    n_mid = np.count_nonzero(midtone)
    if n_mid <= MIDTONE_LIMIT * gray.size:
        return None
    white = (gray >= 128).view(np.uint8)
    kernel = np.ones((2 * EDGE_BAND + 1, 2 * EDGE_BAND + 1), np.uint8)
    near_white = cv2.dilate(white, kernel, borderType=cv2.BORDER_REPLICATE)
    near_black = cv2.dilate(1 - white, kernel, borderType=cv2.BORDER_REPLICATE)
    far = np.count_nonzero(midtone & ~((near_white & near_black).astype(bool))) / gray.size
    if far > MIDTONE_LIMIT:
        return (f"not a mask ({far:.0%} of pixels are mid-grey away from any edge: a photo, or a mask blurred"
                f" by more than ~{EDGE_BAND} px; threshold it first)")
    return None


def read_mask_gray(source: ImageSource, name: str | None = None) -> np.ndarray:
    """A mask file as ``(H, W)`` uint8 grey, as displayed, if :func:`mask_problem` accepts it.

    Args:
        source: a path, the file's bytes or a binary file object.
        name: how messages name the file (default: the path).

    Raises:
        InputError: unreadable (:func:`qdimd.files.imagefile.open_image`) or not a mask.
    """
    with open_image(source, name) as im:
        shown = as_displayed(im)
        rgb = np.asarray(shown, dtype=np.uint8) if shown.mode == "RGB" else None
        gray = np.asarray(shown if rgb is None else shown.convert("L"), dtype=np.uint8)
        problem = mask_problem(gray, rgb)
        if problem is not None:
            raise InputError(f"{name if name is not None else source}: {problem}")
    return gray


def polarity_warning(where: str, hole_ratios: Sequence[float], hole_value: int) -> str | None:
    """A warning when the masks of ``where`` look inverted (median hole ratio over :data:`POLARITY_LIMIT`).

    Args:
        where: the folder (or file) the masks come from, named in the message.
        hole_ratios: the hole ratio of each of its masks (or of a sample) under ``hole_value``.
        hole_value: the polarity in use (255 white holes, 0 black holes).

    Returns:
        The message, or None when the masks look fine (or there are none).
    """
    ratios = [float(r) for r in hole_ratios if np.isfinite(r)]
    if not ratios:
        return None
    median = float(np.median(ratios))
    if median <= POLARITY_LIMIT:
        return None
    colour, other = ("white (255)", 0) if int(hole_value) == 255 else ("black (0)", 255)
    masks = "the mask" if len(ratios) == 1 else f"the median of {len(ratios)} masks"
    return (f"{where}: holes ({colour}) cover {median:.0%} of {masks}, more than masks ever do "
            f"({POLARITY_LIMIT:.0%} ends the papers' last bucket); if the polarity is inverted, pass "
            f"--hole-value {other} (or invert the files); --strict makes this an error")


def check_polarity(problems: ProblemLog, where: str, hole_ratios: Sequence[float], hole_value: int) -> None:
    """Note :func:`polarity_warning` (if any) in ``problems``; in strict mode it raises.

    Raises:
        InputError: ``problems.strict`` and the masks look inverted.
    """
    message = polarity_warning(where, hole_ratios, hole_value)
    if message is not None:
        problems.warn(message)


def sample_hole_ratios(paths: Sequence[ImageSource], hole_value: int, n: int = POLARITY_SAMPLE) -> list[float]:
    """Hole ratios of up to ``n`` masks evenly spread over ``paths`` (unreadable ones left out: the
    caller reports them when it reads them)."""
    if not len(paths):
        return []
    picks = sorted({int(i) for i in np.linspace(0, len(paths) - 1, min(n, len(paths)))})
    ratios = []
    for i in picks:
        try:
            gray = read_mask_gray(paths[i])
        except InputError:
            continue
        white = np.count_nonzero(gray >= 128) / gray.size
        ratios.append(white if int(hole_value) == 255 else 1.0 - white)
    return ratios


__all__ = ["EDGE_BAND", "MIDTONE_LIMIT", "POLARITY_LIMIT", "POLARITY_SAMPLE", "check_polarity", "mask_problem",
           "polarity_warning", "read_mask_gray", "sample_hole_ratios"]
