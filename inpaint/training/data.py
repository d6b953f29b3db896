"""Training data: photos from a folder with QD-IMD masks, drawn by a global sample index.

Sample ``s`` (0, 1, 2, ... over the whole run) is fully determined by ``(seed, s)``:
its photo is ``files[perm_e[s % n]]`` where ``perm_e`` is the permutation of
epoch ``e = s // n`` drawn from ``default_rng([seed, e])``, and its mask is mask
``s`` of a :class:`qdimd.masks.generator.MaskGenerator` seeded with ``seed`` (or, with
``--masks DIR``, item ``s`` of :class:`qdimd.files.folder.MaskFiles`: a file picked by
``default_rng([seed, s])``, augmented from the same generator unless ``--no-augment``,
the PConv paper's recipe). A run's data position
is therefore one integer, the samples consumed by all processes together (the
``samples`` column of ``log.csv``), the same for any number of workers or
processes: ``--resume`` replays exactly, and continues from that sample when
the number of processes changed.

Items are uint8 (photos decoded by :func:`inpaint.training.photos.decode_photo`):
the float conversion and the ImageNet normalisation happen on the training
device (:func:`inpaint.training.batches.model_inputs`), so a worker moves a
quarter of the bytes of float32. For Sim-K the ``k`` precomputed database
neighbours of the photo come along, decoded the same way.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from qdimd.errors import InputError, ProblemLog
from qdimd.io import MASK_SUFFIXES

from ..images import find_images
from .photos import cached_scan, decode_photo, scan_images

__all__ = ["DataConfig", "InpaintDataset", "StepBatchSampler", "scan_images", "training_files", "training_masks",
           "training_neighbours"]


@dataclass(frozen=True)
class DataConfig:
    """What the training data is made of.

    Args:
        size: ``(H, W)`` of the training crops.
        seed: seeds masks and the photo order.
        masks: folder of mask files instead of generated masks.
        hole_value: hole pixel value in ``masks`` files (255 or 0).
        augment: augment the masks, generated or from ``masks`` files (qdimd.masks.augment defaults).
        k: neighbours per photo (Sim-K); 0 for PConv / Sim-0.
        mask_kind: :mod:`qdimd.kinds` spec of the generated masks (``augment`` applies to ``qdimd`` ones).
    """

    size: tuple[int, int] = (256, 256)
    seed: int = 0
    masks: str | None = None
    hole_value: int = 255
    augment: bool = True
    k: int = 0
    mask_kind: str = "qdimd"


def _chw(image: np.ndarray) -> torch.Tensor:
    """``(..., H, W, 3)`` uint8 -> contiguous ``(..., 3, H, W)`` uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, -3)))


class InpaintDataset(torch.utils.data.Dataset):
    """Map-style dataset over global sample indices ``s >= 0`` (any non-negative int).

    Args:
        files: readable photo files (see :func:`training_files`).
        config: data configuration.
        neighbours: Sim-K only: ``(len(files), >= k)`` int64, row i = candidates (database
            rows, best first) for files[i]; -1 marks a dropped candidate (see
            :func:`training_neighbours`). The first ``k`` decodable ones are used.
        neighbour_files: the files that ``neighbours`` indexes.
        mask_files: readable mask files (see :func:`training_masks`); default: every
            mask file under ``config.masks``.

    A photo or mask that passed the header scan but fails to decode is warned
    about once and replaced by the next one (deterministically), never ending the run.

    Items are dicts: ``image`` ``(3, H, W)`` uint8, ``hole`` ``(1, H, W)`` uint8 (1 = hole),
    ``index`` (the sample index) and, for ``k > 0``, ``aux`` ``(k, 3, H, W)`` uint8.
    """

    def __init__(
        self,
        files: Sequence[Path],
        config: DataConfig,
        neighbours: np.ndarray | None = None,
        neighbour_files: Sequence[str] | None = None,
        mask_files: Sequence[Path] | None = None,
    ):
        if not files:
            raise InputError("no readable training images")
        self.files = [Path(f) for f in files]
        self.config = config
        if config.k:
            if neighbours is None or neighbour_files is None:
                raise ValueError(f"Expected precomputed neighbours for k = {config.k}, got none")
            if neighbours.shape[0] != len(self.files) or neighbours.shape[1] < config.k:
                raise ValueError(f"Expected neighbours of shape ({len(self.files)}, >= {config.k}), got {neighbours.shape}")
        self.neighbours = neighbours
        self.neighbour_files = list(neighbour_files) if neighbour_files is not None else None
        if mask_files is None and config.masks:
            mask_files = find_images(config.masks, MASK_SUFFIXES)
        if mask_files is not None and not len(mask_files):
            raise InputError(f"{config.masks}: no readable mask files")
        self.mask_files = [Path(f) for f in mask_files] if mask_files is not None else None
        self._warned: set[Path] = set()   # undecodable files already reported (per worker process)
        self._generator = None
        self._folder = None  # qdimd.files.folder.MaskFiles of mask_files, made on first use
        self._perm: tuple[int, np.ndarray] | None = None  # cache of the last epoch's permutation

    def __len__(self) -> int:
        return len(self.files)

    def _mask_generator(self):
        if self._generator is None:
            from qdimd.kinds import create_generator
            from qdimd.masks.generator import MaskConfig

            augment = None
            if self.config.augment:
                from qdimd.masks.augment import AugmentConfig

                augment = AugmentConfig()
            config = MaskConfig(size=tuple(self.config.size), split="train", augment=augment)   # train-split categories
            self._generator = create_generator(config, seed=self.config.seed, kind=self.config.mask_kind)
        return self._generator

    def photo_index(self, s: int) -> int:
        """Index into ``files`` of sample ``s``."""
        n = len(self.files)
        epoch = s // n
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.config.seed, epoch]).permutation(n))
        return int(self._perm[1][s % n])

    def hole(self, s: int) -> np.ndarray:
        """``(H, W)`` bool hole mask of sample ``s``."""
        if self.mask_files is None:
            return np.asarray(self._mask_generator().generate(s), dtype=bool)
        if self._folder is None:  # a random file per (seed, s), then the PConv augmentation (files12, issue 12)
            from qdimd.files.folder import MaskFiles
            from qdimd.masks.augment import AugmentConfig

            self._folder = MaskFiles(self.mask_files, size=tuple(self.config.size), hole_value=self.config.hole_value,
                                     seed=self.config.seed, augment=AugmentConfig() if self.config.augment else None)
        return self._folder.sample(s)

    def _photo(self, path) -> np.ndarray:
        return decode_photo(path, tuple(self.config.size))

    def _warn_once(self, path: Path, message: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            warnings.warn(message, stacklevel=3)

    def _neighbours(self, i: int) -> np.ndarray:
        """``(k, H, W, 3)`` uint8: the first ``k`` decodable candidates of photo ``i``."""
        out = []
        for j in self.neighbours[i]:
            if j < 0:
                continue
            path = Path(self.neighbour_files[j])
            try:
                out.append(self._photo(path))
            except InputError as exc:
                self._warn_once(path, f"{exc}; using the next neighbour")
                continue
            if len(out) == self.config.k:
                return np.stack(out)
        raise InputError(f"{self.files[i]}: fewer than {self.config.k} of its database neighbours could be decoded")

    def __getitem__(self, s: int) -> dict:
        if s < 0:
            raise IndexError(f"Expected a sample index >= 0, got {s}")
        n = len(self.files)
        first = self.photo_index(s)
        for j in range(n):   # unreadable past its header: the next file of the list, same mask
            i = (first + j) % n
            try:
                image = self._photo(self.files[i])
                break
            except InputError as exc:
                self._warn_once(self.files[i], f"{exc}; using another image")
        else:
            raise InputError(f"none of the {n} training images could be decoded")
        item = {"image": _chw(image), "hole": torch.from_numpy(self.hole(s).astype(np.uint8)[None]), "index": s}
        if self.config.k:
            item["aux"] = _chw(self._neighbours(i))
        return item


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of global sample indices from ``start_step`` on, sharded over processes.

    Step ``start_step + t`` of rank ``r`` gets ``S + t*B*W + r*B ... + B - 1`` (``S`` the
    first sample, ``B`` per-process batch, ``W`` world size): every process sees distinct
    samples, and the stream continues at any sample, so a run resumed with another number
    of processes (or another batch) goes on from the sample where it stopped, with no gap
    and no repeat. Plays the role of ``DistributedSampler`` with an exact resume position.

    Args:
        batch_size: per-process batch size.
        start_step: first step to yield (counts towards ``max_steps``).
        max_steps: stop before this step (None = infinite).
        rank, world_size: this process and the process count.
        start_sample: first global sample of ``start_step`` (the samples all processes
            consumed before it); default ``start_step * B * W``.
    """

    def __init__(self, batch_size: int, start_step: int = 0, max_steps: int | None = None, rank: int = 0, world_size: int = 1,
                 start_sample: int | None = None):
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"Expected batch_size >= 1 and 0 <= rank < world_size, got {batch_size}, {rank}, {world_size}")
        if start_sample is not None and start_sample < 0:
            raise ValueError(f"Expected start_sample >= 0, got {start_sample}")
        self.batch_size, self.start_step, self.max_steps = batch_size, start_step, max_steps
        self.rank, self.world_size = rank, world_size
        self.start_sample = start_step * batch_size * world_size if start_sample is None else start_sample

    def __iter__(self) -> Iterator[list[int]]:
        step, first = self.start_step, self.start_sample + self.rank * self.batch_size
        while self.max_steps is None or step < self.max_steps:
            yield list(range(first, first + self.batch_size))
            step, first = step + 1, first + self.batch_size * self.world_size

    def __len__(self) -> int:
        if self.max_steps is None:
            raise TypeError("infinite sampler has no length")
        return max(0, self.max_steps - self.start_step)


def training_files(images: str | os.PathLike, problems: ProblemLog, cache: str | os.PathLike | None = None,
                   share=None) -> list[Path]:
    """Readable photos under ``images`` (recursive); unreadable ones reported in ``problems``.

    Args:
        cache: scan cache file (see :func:`inpaint.training.photos.cached_scan`); None scans.
        share: the processes that share the scan (see :func:`~inpaint.training.photos.cached_scan`).
    """
    return cached_scan(images, cache, problems, share=share)


def training_masks(masks: str | os.PathLike, problems: ProblemLog, cache: str | os.PathLike | None = None,
                   share=None) -> list[Path]:
    """Readable mask files under ``masks`` (recursive); unreadable ones reported in ``problems``."""
    try:
        return cached_scan(masks, cache, problems, MASK_SUFFIXES, share=share)
    except InputError as exc:
        if "no readable images" in str(exc):
            raise InputError(f"{masks}: no readable mask files") from None
        raise


def training_neighbours(vectors: np.ndarray, topk: np.ndarray, rows: Sequence[int], k: int,
                        dup_threshold: float | None) -> np.ndarray:
    """Sim-K training neighbours: each row's precomputed candidates without near-duplicates.

    Args:
        vectors: ``(N, D)`` unit descriptors of the database.
        topk: ``(N, K)`` precomputed neighbours (best first).
        rows: the database row of each training photo.
        k: neighbours needed per photo.
        dup_threshold: candidates more similar than this to the photo (copies, near-duplicates)
            become -1, as Sim-K's test-time retrieval leaves them out; None keeps all.

    Returns:
        ``(len(rows), K)`` int64 candidates, -1 where dropped.

    Raises:
        InputError: a photo keeps fewer than ``k`` candidates (the message says how to rebuild).
    """
    cand = np.asarray(topk[np.asarray(rows, dtype=np.int64)], dtype=np.int64).copy()
    if dup_threshold is not None and len(cand):
        own = np.asarray(vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32)
        sims = np.einsum("nd,nkd->nk", own, np.asarray(vectors[np.maximum(cand, 0)], dtype=np.float32))
        cand[(sims > dup_threshold) | (cand < 0)] = -1
    short = np.flatnonzero((cand >= 0).sum(1) < k)
    if len(short):
        raise InputError(
            f"{len(short)} training photo(s) keep fewer than {k} database neighbours after leaving out near-duplicates "
            f"(similarity > {dup_threshold}); rebuild the neighbours with `inpaint index --topk {k + 2}` or more"
        )
    return cand
