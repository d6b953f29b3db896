"""A folder of mask files as hole arrays: polarity, size, and the PConv paper's random sampling.

:class:`MaskFiles` reads your own, NVIDIA's or QD-IMD mask files (any polarity, size, 1 or
3 channels; see :mod:`qdimd.files.maskfiles`) as ``(H, W)`` bool hole masks resized to one
size with nearest neighbour (:func:`qdimd.io.resize_hole`). Two ways to index them:

* ``seed=None``: item ``i`` is file ``i`` (sorted), optionally augmented.
* ``seed=s``: item ``i`` is a file drawn uniformly at random by ``np.random.default_rng([s, i])``
  (:func:`qdimd.masks.generator.mask_rng`), then augmented from the same generator: the
  recipe of Liu et al. 2018 (a random mask of the set, then dilation, rotation, crop), and
  still a pure function of ``(seed, i)``, so any worker count or order gives the same items.

With ``augment`` (a :class:`qdimd.masks.augment.AugmentConfig`), an augmentation that leaves
no hole of a mask that had some is redrawn (up to :data:`MAX_REDRAWS` times, then the mask is
kept unaugmented). A file that cannot be decoded is skipped for the next one in the list,
with one warning per file. This module has no torch: :class:`qdimd.torch.MaskFolder` wraps it.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError, ProblemLog
from ..io import PathLike, hole_from_gray, resize_hole
from ..masks.augment import AugmentConfig, apply_augment, sample_augment_params
from ..masks.generator import mask_rng
from .maskfiles import MaskSource, decide_hole_value, find_masks, frame_white_fraction, iter_mask_grays

AUTO_SAMPLE = 64
"""Files per folder that decide ``hole_value="auto"``."""
MAX_REDRAWS = 16
"""Augmentation draws tried on a mask before it is kept unaugmented (an empty result is never kept)."""


class MaskFiles:
    """The mask files under ``root`` as hole masks (see the module docstring).

    Args:
        root: a folder (recursive; ``.tar`` shards are skipped), one image file, or a list of files.
        size: ``S`` or ``(H, W)``; None keeps each file's size.
        hole_value: 255 (white holes), 0 (black holes) or ``"auto"``: decided per folder from up to
            :data:`AUTO_SAMPLE` of its files (:func:`qdimd.files.maskfiles.decide_hole_value`).
        seed: None = item ``i`` is file ``i``; an int = item ``i`` is a random file drawn per ``(seed, i)``.
        augment: optional augmentation of every item, drawn per ``(seed or 0, i)``.

    Raises:
        InputError: no mask files.
        ValueError: bad options.
    """

    def __init__(self, root: PathLike | Sequence[PathLike], *, size: int | Sequence[int] | None = 256,
                 hole_value: int | str = "auto", seed: int | None = None, augment: AugmentConfig | None = None):
        if isinstance(hole_value, str) and hole_value in ("255", "0"):
            hole_value = int(hole_value)
        if hole_value not in (255, 0, "auto"):
            raise ValueError(f"Expected hole_value 255, 0 or 'auto', got {hole_value!r}")
        if seed is not None and (isinstance(seed, bool) or int(seed) < 0):
            raise ValueError(f"Expected seed None or >= 0, got {seed!r}")
        if augment is not None and not isinstance(augment, AugmentConfig):
            raise TypeError(f"Expected an AugmentConfig or None for augment, got {type(augment).__name__}")
        self.size = None if size is None else mask_size(size)
        self.seed, self.augment = (None if seed is None else int(seed)), augment
        if isinstance(root, (str, Path)):
            self.sources = [s for s in find_masks(root, problems=ProblemLog()) if s.member is None]
        else:
            self.sources = [MaskSource(str(p), str(Path(p).parent), Path(p).name, str(p)) for p in root]
        if not self.sources:
            raise InputError(f"{root}: no mask files found")
        self.hole_values = _decide(self.sources, hole_value)
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def files(self) -> list[str]:
        """The file paths in index order."""
        return [s.source for s in self.sources]

    def hole(self, index: int) -> np.ndarray:
        """File ``index`` as an ``(H, W)`` bool hole mask at ``size``, unaugmented.

        Raises:
            InputError: the file cannot be decoded.
        """
        source = self.sources[index]
        (_, gray), = iter_mask_grays([source])
        if isinstance(gray, Exception):
            raise gray
        hole = hole_from_gray(gray, self.hole_values[source.folder])
        return hole if self.size is None else resize_hole(hole, self.size)

    def sample(self, index: int) -> np.ndarray:
        """Item ``index`` (any ``index >= 0``): ``(H, W)`` bool, True = hole.

        Raises:
            InputError: no file of the list can be decoded.
        """
        if index < 0:
            raise ValueError(f"Expected an index >= 0, got {index}")
        rng = mask_rng(0 if self.seed is None else self.seed, index)
        n = len(self.sources)
        first = index % n if self.seed is None else int(rng.integers(n))
        for j in range(n):
            try:
                hole = self.hole((first + j) % n)
                break
            except InputError as exc:
                self._warn_once(self.sources[(first + j) % n].source, f"{exc}; using the next mask file")
        else:
            raise InputError(f"none of the {n} mask files could be decoded")
        return hole if self.augment is None else augment_hole(hole, self.augment, rng)

    def _warn_once(self, name: str, message: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            warnings.warn(message, stacklevel=3)


def augment_hole(hole: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """``hole`` augmented by a draw of ``rng``; a draw that empties a non-empty mask is redrawn
    (:data:`MAX_REDRAWS` times, then ``hole`` is returned as it is)."""
    for _ in range(MAX_REDRAWS):
        out = apply_augment(hole, sample_augment_params(rng, config, hole.shape))
        if out.any() or not hole.any():
            return out
    return hole


def mask_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``S`` or ``(H, W)`` as ``(H, W)`` with positive sides, else ValueError."""
    dims = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if len(dims) != 2 or min(dims) < 1:
        raise ValueError(f"Expected size S or (H, W) with positive sides, got {size!r}")
    return dims


def _decide(sources: list[MaskSource], hole_value) -> dict[str, int]:
    """The hole value of each folder of ``sources`` (``auto``: a vote of up to :data:`AUTO_SAMPLE` files)."""
    folders: dict[str, list[MaskSource]] = {}
    for source in sources:
        folders.setdefault(source.folder, []).append(source)
    if hole_value != "auto":
        return {folder: int(hole_value) for folder in folders}
    decided = {}
    for folder, members in folders.items():
        whites = [g >= 128 for _, g in iter_mask_grays(members[:AUTO_SAMPLE]) if isinstance(g, np.ndarray)]
        decided[folder] = decide_hole_value([frame_white_fraction(w) for w in whites], [float(w.mean()) for w in whites])
    return decided


__all__ = ["AUTO_SAMPLE", "MAX_REDRAWS", "MaskFiles", "augment_hole", "mask_size"]
