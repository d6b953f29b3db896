"""Batches of masks as tensors, and their trip from DataLoader workers as bits (issue 21).

:func:`batch_tensor` converts ``(N, H, W)`` bool holes to one ``(N, C, H, W)`` tensor in one numpy
pass (numpy asks the kernel for huge pages for large arrays: fresh float32 memory costs a
third of torch's). That is the conversion of every item outside DataLoader workers.

Inside a worker, the default ``collate_fn`` stacks a batch into fresh shared memory: for float32
masks, 4 bytes a pixel written into freshly faulted pages, 4x (256 px) to 15x (1024 px) the cost
of drawing the masks (``python -m benchmarks.bench_torch``). So in a worker the datasets' batched
fetch returns :class:`LazyMask` items (:func:`lazy_items`): genuine tensors of the requested
dtype whose pixels are written the first time anything reads them (every read of a tensor
subclass passes through ``__torch_function__``). The default ``collate_fn`` collates a batch of them
with :func:`collate_lazy_masks` (registered in ``default_collate_fn_map``, torch's extension point,
for this class only): a :class:`PackedBatch` of the hole bits, 1 bit a pixel, which the main process
unpickles (:func:`unpack_batch`) into exactly the plain tensor the stack would have made. Any other
use (a custom ``collate_fn``, in-place changes) writes the items' pixels first and gets plain tensors.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils._pytree import tree_flatten
from torch.utils.data import get_worker_info
from torch.utils.data._utils.collate import collate_tensor_fn, default_collate_fn_map

DTYPES = {"float32": torch.float32, "uint8": torch.uint8, "bool": torch.bool}
POLARITIES = ("hole", "valid")
_NUMPY = {"float32": np.float32, "uint8": np.uint8, "bool": np.bool_}


def check_output(dtype: str, polarity: str, channels: int) -> None:
    """ValueError unless ``dtype``, ``polarity`` and ``channels`` name an output tensor."""
    if dtype not in DTYPES:
        raise ValueError(f"Expected dtype in {tuple(DTYPES)}, got {dtype!r}")
    if polarity not in POLARITIES:
        raise ValueError(f"Expected polarity in {POLARITIES}, got {polarity!r}")
    if channels not in (1, 3):
        raise ValueError(f"Expected channels 1 or 3, got {channels!r}")


def write_holes(out: np.ndarray, holes: np.ndarray, dtype: str, polarity: str) -> np.ndarray:
    """Write ``(N, H, W)`` bool ``holes`` into ``out`` ``(N, C, H, W)`` of ``dtype`` (float 0/1, uint8 0/255, bool)."""
    values = holes if polarity == "hole" else np.logical_not(holes)
    first = out[:, 0]
    if dtype == "uint8":
        np.multiply(values.view(np.uint8), 255, out=first)
    else:
        np.copyto(first, values, casting="unsafe")
    if out.shape[1] > 1:
        out[:, 1:] = first[:, None]
    return out


def batch_tensor(holes: np.ndarray, dtype: str = "float32", polarity: str = "hole", channels: int = 1) -> torch.Tensor:
    """``(N, H, W)`` bool hole masks as one ``(N, C, H, W)`` tensor (``dtype``, ``polarity``: :mod:`qdimd.torch`)."""
    check_output(dtype, polarity, channels)
    holes = np.asarray(holes, dtype=bool)
    if holes.ndim != 3:
        raise ValueError(f"Expected (N, H, W) hole masks, got shape {holes.shape}")
    n, h, w = holes.shape
    return torch.from_numpy(write_holes(np.empty((n, channels, h, w), _NUMPY[dtype]), holes, dtype, polarity))


def unpack_batch(bits: "np.ndarray | torch.Tensor", width: int, dtype: str, polarity: str, channels: int) -> torch.Tensor:
    """The tensor of a :class:`PackedBatch` (run by the main process when it unpickles one).

    Item by item: each item's bytes are unpacked into a small buffer that stays in the cache.
    """
    check_output(dtype, polarity, channels)
    bits = np.asarray(bits)
    out = np.empty((len(bits), channels, bits.shape[1], width), _NUMPY[dtype])
    for k in range(len(bits)):
        write_holes(out[k:k + 1], np.unpackbits(bits[k:k + 1], axis=-1, count=width).view(bool), dtype, polarity)
    return torch.from_numpy(out)


class PackedBatch:
    """A worker's collated batch of untouched :class:`LazyMask` items: ``(N, H, ceil(W / 8))`` hole bits.

    Pickled (to cross to the main process) it becomes the ``(N, C, H, W)`` tensor itself.
    """

    __slots__ = ("bits", "width", "spec")

    def __init__(self, bits: np.ndarray, width: int, spec: tuple[str, str, int]):
        self.bits, self.width, self.spec = bits, width, spec

    def tensor(self) -> torch.Tensor:
        return unpack_batch(self.bits, self.width, *self.spec)

    def __reduce__(self):
        # as a tensor, the bits cross in shared memory (a file descriptor) rather than through the pipe
        return unpack_batch, (torch.from_numpy(self.bits), self.width, *self.spec)


_METADATA = {torch.Tensor.numel, torch.Tensor.size, torch.Tensor.dim, torch.Tensor.new, torch.Tensor.stride,
             torch.Tensor.element_size, torch.Tensor.is_contiguous, torch.Tensor.storage_offset,
             *(getattr(torch.Tensor, name).__get__ for name in ("dtype", "device", "shape", "layout", "is_nested", "ndim"))}
"""Calls that read no pixel of a :class:`LazyMask`."""
_READS_ONLY = {torch.Tensor.untyped_storage}
"""Calls that expose the pixels but are not taken to change them (the default collate's ``_typed_storage``)."""


class LazyMask(torch.Tensor):
    """One item of a batch made in a DataLoader worker: its pixels are written when first read.

    Attributes (set by :func:`lazy_items`): ``qdimd_hole`` ``(H, W)`` bool, ``qdimd_spec``
    ``(dtype, polarity, channels)``, ``qdimd_state`` 0
    (pixels not written), 1 (written) or 2 (handed to a call that may have changed them).
    """

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = {} if kwargs is None else kwargs
        if func not in _METADATA:
            changes = func not in _READS_ONLY
            for item in tree_flatten((args, kwargs))[0]:
                if isinstance(item, LazyMask):
                    item.qdimd_fill(changes)
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)

    def qdimd_fill(self, changes: bool = True) -> None:
        """Write the pixels if not yet written; ``changes``: the caller may change them (no bits shipped then)."""
        if self.qdimd_state == 0:
            with torch._C.DisableTorchFunctionSubclass():
                pixels = self.numpy()   # the storage as it is now (pickling may have moved it to shared memory)
            write_holes(pixels[None], self.qdimd_hole[None], *self.qdimd_spec[:2])
            self.qdimd_state = 1
        if changes:
            self.qdimd_state = 2

    def __reduce_ex__(self, protocol):
        self.qdimd_fill()
        with torch._C.DisableTorchFunctionSubclass():
            return _plain, (self.as_subclass(torch.Tensor),)


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def collate_lazy_masks(batch, *, collate_fn_map=None):
    """``default_collate`` of :class:`LazyMask` items: their bits (:class:`PackedBatch`) in a DataLoader worker
    when every item is untouched and alike, else their pixels written and stacked as usual."""
    first = batch[0]
    if get_worker_info() is not None and all(
            type(x) is LazyMask and x.qdimd_state < 2 and x.qdimd_spec == first.qdimd_spec
            and x.qdimd_hole.shape == first.qdimd_hole.shape for x in batch):
        bits = np.stack([np.packbits(x.qdimd_hole, axis=-1) for x in batch])
        return PackedBatch(bits, first.qdimd_hole.shape[1], first.qdimd_spec)
    return collate_tensor_fn(batch, collate_fn_map=collate_fn_map)


# torch's documented extension point of default_collate, keyed by this module's own class: no other type changes
default_collate_fn_map[LazyMask] = collate_lazy_masks


def lazy_items(holes: np.ndarray, dtype: str, polarity: str, channels: int) -> list[torch.Tensor]:
    """``(N, H, W)`` bool holes as ``N`` :class:`LazyMask` items ``(C, H, W)`` (views of one unwritten batch)."""
    check_output(dtype, polarity, channels)
    n, h, w = holes.shape
    parent, items = torch.from_numpy(np.empty((n, channels, h, w), _NUMPY[dtype])), []
    for k in range(n):
        item = parent[k].as_subclass(LazyMask)
        item.qdimd_hole, item.qdimd_spec, item.qdimd_state = holes[k], (dtype, polarity, channels), 0
        items.append(item)
    return items


__all__ = ["DTYPES", "LazyMask", "POLARITIES", "PackedBatch", "batch_tensor", "check_output", "collate_lazy_masks", "lazy_items",
           "unpack_batch", "write_holes"]
