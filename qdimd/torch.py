"""PyTorch datasets of QD-IMD masks (the only qdimd module that imports torch).

* :class:`MaskDataset`: map-style, item ``i`` is mask ``i`` of the seed (fixed
  evaluation sets; any sampler or worker count gives the same items).
* :class:`RandomMaskDataset`: iterable, infinite or with a length per epoch. Epoch
  ``e`` is the stream of mask indices ``e * 2**40 + j``; under DDP, rank ``r`` of ``R``
  takes ``j = r, r + R, ...`` and its DataLoader worker ``w`` of ``W`` every ``W``-th of
  those from the ``w``-th, so no two GPUs or workers repeat each other's masks, and the
  masks (and, with the DataLoader's in-order batching, the batches) are the same in
  every run. Call :meth:`RandomMaskDataset.set_epoch` every epoch (like
  ``DistributedSampler``) for a new stream; without it the dataset counts its own
  iterations, which advances only where it is iterated (no workers, or
  ``persistent_workers=True``).
* :class:`MaskFolder`: map-style over a folder of mask files (any polarity, size,
  1 or 3 channels; resized with nearest neighbour), to mix QD-IMD with your own
  or NVIDIA's masks; with ``seed``, item ``i`` is a random file per ``(seed, i)``, with
  ``augment`` augmented (:class:`qdimd.files.folder.MaskFiles`).

Every item is a tensor ``(C, H, W)``: ``dtype`` ``"float32"`` (0/1), ``"uint8"``
(0/255, like mask files) or ``"bool"``; ``polarity`` ``"hole"`` (1 = missing) or
``"valid"`` (1 = known, PConv's ``M``); ``channels`` 1 or 3.

Speed: a plain ``DataLoader(dataset, batch_size=B, num_workers=W)`` fetches a whole batch at
once (``__getitems__``, torch >= 2.2; older torch falls back to ``__getitem__`` per item, with
the same items): the batch's masks are rendered together (:meth:`MaskGenerator.sample_indices`)
and converted to the output dtype in one numpy pass (:func:`batch_tensor`); the items are views
of that batch, which the default ``collate_fn`` stacks. In DataLoader workers the batch crosses
to the main process as hole bits and becomes the same tensor there (:mod:`qdimd.torch_batch`:
writing float32 masks into the workers' shared memory costs several times their drawing).
:class:`RandomMaskDataset` renders its stream in chunks of :func:`chunk_size` masks the same way.
Item ``i`` (of a seed and epoch) is the same mask whatever the batch size, chunk or worker count.
"""
from __future__ import annotations

import dataclasses
import itertools
import operator
import warnings
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .masks.augment import AugmentConfig
from .buckets import DEFAULT_EDGES, GROUPS, default_margin
from .masks.generator import MaskConfig
from .io import PathLike
from .files.folder import MaskFiles, mask_size
from .torch_batch import DTYPES, POLARITIES, batch_tensor, check_output, lazy_items

EPOCH_STRIDE = 2**40
"""Mask indices of epoch ``e`` start at ``e * EPOCH_STRIDE``."""


def to_tensor(hole: np.ndarray, dtype: str = "float32", polarity: str = "hole", channels: int = 1) -> torch.Tensor:
    """``(H, W)`` bool hole mask to a ``(C, H, W)`` tensor (see the module docstring)."""
    return batch_tensor(np.asarray(hole, dtype=bool)[None], dtype, polarity, channels)[0]


def _items(holes: np.ndarray, dtype: str, polarity: str, channels: int) -> list[torch.Tensor]:
    """The items of a batch: views of one tensor, or in a DataLoader worker lazy ones that cross as bits."""
    if get_worker_info() is None:
        return list(batch_tensor(holes, dtype, polarity, channels))
    return lazy_items(holes, dtype, polarity, channels)


CHUNK_PIXELS = 1 << 25
"""Pixels of masks :class:`RandomMaskDataset` renders and converts together (128 MiB of float32 outside
workers; in a worker the float32 pixels are not written, see :mod:`qdimd.torch_batch`)."""


def chunk_size(size: tuple[int, int]) -> int:
    """Masks per chunk of a :class:`RandomMaskDataset` stream: 64 at 256 and 512 px, 32 at 1024."""
    return max(1, min(64, CHUNK_PIXELS // (size[0] * size[1])))


class _Source:
    """Picklable recipe of a mask generator; the generator itself is built lazily in each process."""

    def __init__(self, size, config, store, seed, augment, ratio_range, border, margin, kind=None):
        from .kinds import parse_kind

        self.kind = None if kind is None or parse_kind(kind).is_default else str(parse_kind(kind))
        config = MaskConfig() if config is None else config
        if size is not None:
            config = dataclasses.replace(config, size=mask_size(size))
        if augment is not None:
            if not isinstance(augment, AugmentConfig):
                raise TypeError(f"Expected an AugmentConfig or None for augment, got {type(augment).__name__}")
            config = dataclasses.replace(config, augment=augment)
        if border is not None and border not in GROUPS:
            raise ValueError(f"Expected border in {GROUPS} or None, got {border!r}")
        if seed < 0:
            raise ValueError(f"Expected seed >= 0, got {seed}")
        self.config, self.store, self.seed = config, store, int(seed)
        self.ratio_range = None if ratio_range is None else tuple(float(v) for v in ratio_range)
        if border is not None and self.ratio_range is None:
            self.ratio_range = (DEFAULT_EDGES[0], DEFAULT_EDGES[-1])
        self.border = border
        self.margin = default_margin(*config.size) if margin is None else int(margin)
        self._generator = None
        self.generator()  # validate now, in the main process

    def generator(self):
        if self._generator is None:
            if self.ratio_range is None:
                from .kinds import create_generator

                self._generator = create_generator(self.config, self.store, self.seed, self.kind)
            else:
                from .kinds import create_targeted

                kwargs = {}
                if self.border == GROUPS[0]:
                    kwargs["min_border_distance"] = self.margin
                elif self.border == GROUPS[1]:
                    kwargs["max_border_distance"] = self.margin - 1
                self._generator = create_targeted(self.kind, self.config, self.store, self.seed, self.ratio_range, **kwargs)
            self.store = self._generator.store
        return self._generator

    def holes(self, indices: Sequence[int]) -> np.ndarray:
        """Masks ``indices`` as ``(N, H, W)`` bool, rendered together where the generator can."""
        generator = self.generator()
        sample_indices = getattr(generator, "sample_indices", None)
        if sample_indices is not None:
            return sample_indices(indices)[1]
        out = np.empty((len(indices), *self.config.size), dtype=bool)
        for k, index in enumerate(indices):
            out[k] = generator.generate(index)
        return out

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_generator"] = None  # canvases do not pickle; rebuilt in the worker
        return state


class MaskDataset(Dataset):
    """Map-style QD-IMD masks: item ``i`` is mask ``i`` of ``seed``.

    Args:
        length: number of items.
        size: ``S`` or ``(H, W)``; overrides ``config.size``.
        config: generator config; None = Algorithm 1's defaults.
        store: stroke store; None = the bundled sample.
        seed: >= 0.
        augment: optional :class:`qdimd.masks.augment.AugmentConfig`.
        ratio_range: ``(lo, hi)`` to make every mask's hole ratio fall in ``(lo, hi]`` (targeted generation).
        border: ``"noborder"`` (every hole at least ``margin`` px from the border), ``"border"``
            (some hole closer), or None.
        margin: border margin in px; None = ``round(50 * min(H, W) / 512)``.
        dtype, polarity, channels: the output tensor (module docstring).
        kind: mask kind or mixture (:mod:`qdimd.kinds`, e.g. ``"lama-thick"``, ``"mat:0.5,qdimd:0.5"``);
            None/``"qdimd"`` = Algorithm 1 as configured by ``config``.

    Example:
        >>> ds = MaskDataset(1000, size=256, seed=0, polarity="valid")
        >>> ds[0].shape
        torch.Size([1, 256, 256])
    """

    def __init__(self, length: int, *, size: int | Sequence[int] | None = None, config: MaskConfig | None = None,
                 store=None, seed: int = 0, augment: AugmentConfig | None = None,
                 ratio_range: tuple[float, float] | None = None, border: str | None = None, margin: int | None = None,
                 dtype: str = "float32", polarity: str = "hole", channels: int = 1, kind: str | None = None):
        if length < 0:
            raise ValueError(f"Expected length >= 0, got {length}")
        check_output(dtype, polarity, channels)
        self.length, self.dtype, self.polarity, self.channels = int(length), dtype, polarity, channels
        self.source = _Source(size, config, store, seed, augment, ratio_range, border, margin, kind)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        """Items ``indices`` rendered and converted together (the DataLoader's batched fetch): views of one batch."""
        masks = [_check_index(i, self.length) % max(self.length, 1) for i in indices]
        return _items(self.source.holes(masks), self.dtype, self.polarity, self.channels)


class RandomMaskDataset(IterableDataset):
    """Iterable QD-IMD masks: a new, reproducible stream each epoch, split disjointly over workers.

    Args:
        length: masks per epoch (over all ranks and workers); None = infinite. With DataLoader
            workers a finite epoch ends with a partial batch from each worker (each batches its own
            share): to zip masks with an image loader, use ``length=None`` (every batch full).
        rank, world_size: this process's share under distributed training (rank ``r`` takes
            stream positions ``r, r + world_size, ...``); None = ``torch.distributed``'s when it is
            initialised when the dataset is made, else 0 and 1.
        other arguments: as in :class:`MaskDataset` (``kind`` too).
    """

    def __init__(self, length: int | None = None, *, size: int | Sequence[int] | None = None,
                 config: MaskConfig | None = None, store=None, seed: int = 0, augment: AugmentConfig | None = None,
                 ratio_range: tuple[float, float] | None = None, border: str | None = None, margin: int | None = None,
                 dtype: str = "float32", polarity: str = "hole", channels: int = 1, kind: str | None = None,
                 rank: int | None = None, world_size: int | None = None):
        if length is not None and length < 0:
            raise ValueError(f"Expected length >= 0 or None, got {length}")
        check_output(dtype, polarity, channels)
        self.length, self.dtype, self.polarity, self.channels = length, dtype, polarity, channels
        self.rank, self.world_size = _distributed(rank, world_size)
        self.source = _Source(size, config, store, seed, augment, ratio_range, border, margin, kind)
        # in shared memory, so that set_epoch reaches the copies held by persistent DataLoader workers
        self._epoch = torch.full((1,), -1, dtype=torch.int64).share_memory_()
        self._iterations = 0

    @property
    def epoch(self) -> int | None:
        """The epoch given to :meth:`set_epoch`, or None before the first call."""
        value = int(self._epoch[0])
        return None if value < 0 else value

    def set_epoch(self, epoch: int) -> None:
        """Use the stream of ``epoch`` (>= 0) from now on, also in persistent DataLoader workers."""
        if epoch < 0:
            raise ValueError(f"Expected epoch >= 0, got {epoch}")
        self._epoch[0] = int(epoch)

    def __len__(self) -> int:
        """Masks per epoch of this rank."""
        if self.length is None:
            raise TypeError("an infinite RandomMaskDataset has no length")
        return len(range(self.rank, self.length, self.world_size))

    def indices(self, epoch: int, worker: int = 0, workers: int = 1) -> Iterator[int]:
        """The mask indices worker ``worker`` of ``workers`` of this rank yields in ``epoch``."""
        j, step = self.rank + self.world_size * worker, self.world_size * workers
        while self.length is None or j < self.length:
            yield epoch * EPOCH_STRIDE + j
            j += step

    def __iter__(self) -> Iterator[torch.Tensor]:
        epoch = self.epoch
        epoch = self._iterations if epoch is None else epoch
        self._iterations += 1
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        if info is not None and self.epoch is None and self._iterations == 1 and worker == 0:
            warnings.warn(
                "RandomMaskDataset.set_epoch(epoch) was not called: in DataLoader workers without "
                "persistent_workers=True every epoch then repeats the masks of epoch 0. Call "
                "set_epoch(epoch) before each epoch for a new, reproducible stream.", RuntimeWarning, stacklevel=2)
        indices, chunk = self.indices(epoch, worker, workers), chunk_size(self.source.config.size)
        while True:
            block = list(itertools.islice(indices, chunk))
            if not block:
                return
            yield from _items(self.source.holes(block), self.dtype, self.polarity, self.channels)


def _check_index(index: int, length: int) -> int:
    """``index`` as an int in ``[-length, length)``, else IndexError."""
    index = operator.index(index)
    if not -length <= index < length:
        raise IndexError(f"Expected an index in [0, {length}), got {index}")
    return index


def _distributed(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``: as given, else ``torch.distributed``'s when initialised, else ``(0, 1)``."""
    if rank is None and world_size is None and torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    rank, world_size = (0 if rank is None else rank), (1 if world_size is None else world_size)
    if isinstance(rank, bool) or isinstance(world_size, bool) or not 0 <= int(rank) < int(world_size):
        raise ValueError(f"Expected 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return int(rank), int(world_size)


class MaskFolder(Dataset):
    """Mask files under ``root`` (recursive, sorted), resized to ``size`` with nearest neighbour.

    Args:
        root: a folder of mask images (PNG/JPG/...; ``.tar`` shards are skipped: stream those instead).
        size: ``S`` or ``(H, W)``; None keeps each file's size (then batch only same-size files).
        hole_value: 255 (white holes), 0 (black holes) or ``"auto"``: decided per folder from up to
            64 of its files (:func:`qdimd.files.maskfiles.decide_hole_value`).
        seed: None = item ``i`` is file ``i``; an int = item ``i`` is a file drawn at random per
            ``(seed, i)`` (the PConv paper's recipe, with ``augment``).
        augment: optional :class:`qdimd.masks.augment.AugmentConfig` (dilation, rotation, crop,
            flips), drawn per ``(seed or 0, i)``; a draw that empties a mask is redrawn.
        length: items (default: the number of files; any length with ``seed``).
        dtype, polarity, channels: the output tensor (module docstring).

    Raises:
        InputError: no mask files under ``root``.
    """

    def __init__(self, root: PathLike, *, size: int | Sequence[int] | None = 256, hole_value: int | str = "auto",
                 seed: int | None = None, augment: AugmentConfig | None = None, length: int | None = None,
                 dtype: str = "float32", polarity: str = "hole", channels: int = 1):
        check_output(dtype, polarity, channels)
        self.masks = MaskFiles(root, size=size, hole_value=hole_value, seed=seed, augment=augment)
        if length is not None and (length < 0 or (seed is None and length > len(self.masks))):
            raise ValueError(f"Expected 0 <= length{'' if seed is not None else f' <= {len(self.masks)} files'} "
                             f"(any length with a seed), got {length}")
        self.length = len(self.masks) if length is None else int(length)
        self.dtype, self.polarity, self.channels = dtype, polarity, channels

    def __len__(self) -> int:
        return self.length

    def hole(self, index: int) -> np.ndarray:
        """Item ``index`` as an ``(H, W)`` bool hole mask."""
        if not 0 <= index < self.length:
            raise IndexError(f"Expected an index in [0, {self.length}), got {index}")
        return self.masks.sample(index)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        """Items ``indices`` converted together (the DataLoader's batched fetch): views of one batch.
        With ``size=None`` each item keeps its file's size and is converted on its own."""
        if self.masks.size is None:
            return [to_tensor(self.hole(i), self.dtype, self.polarity, self.channels) for i in indices]
        holes = np.empty((len(indices), *self.masks.size), dtype=bool)
        for k, index in enumerate(indices):
            holes[k] = self.hole(index)
        return _items(holes, self.dtype, self.polarity, self.channels)

    @property
    def files(self) -> list[str]:
        """The file paths in file order."""
        return self.masks.files

    @property
    def hole_values(self) -> dict[str, int]:
        """The hole value decided for each folder."""
        return self.masks.hole_values


__all__ = ["MaskDataset", "MaskFolder", "RandomMaskDataset", "batch_tensor", "chunk_size", "to_tensor"]
