"""From uint8 batches to model inputs on the device, and the data loader that feeds them.

Workers hand over uint8 photos and hole masks (:class:`inpaint.training.data.InpaintDataset`);
:func:`model_inputs` copies them to the device (pinned memory, non-blocking
on CUDA) and there converts to float32, ImageNet-normalises (one fused
multiply-add per element, with the scale and shift made on the device once,
:func:`imagenet_affine`: a tensor built from Python numbers inside a step is a
blocking host-to-device copy) and turns the hole into the validity mask.
"""
from __future__ import annotations

import torch

from ..nn.vgg import IMAGENET_MEAN, IMAGENET_STD

PREFETCH_FACTOR = 4
"""Batches each worker prepares ahead."""


def imagenet_affine(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(shift, scale)``, each ``(3, 1, 1)`` float32 on ``device``: ``x * scale + shift`` ImageNet-normalises uint8 ``x``.

    Make it once per run (:class:`inpaint.training.step.Stepper` does) and pass it to
    :func:`normalize_uint8` / :func:`model_inputs`: building it is a host-to-device copy.
    """
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    return (-mean / std).to(device), (1.0 / (255.0 * std)).to(device)


def normalize_uint8(x: torch.Tensor, affine: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """``(..., 3, H, W)`` uint8 -> float32 ImageNet-normalised, on ``x``'s device.

    Args:
        affine: :func:`imagenet_affine` on ``x``'s device; None makes it (one host-to-device copy).
    """
    shift, scale = affine if affine is not None else imagenet_affine(x.device)
    return torch.addcmul(shift, x.float(), scale)


def model_inputs(batch: dict, device: torch.device, channels_last: bool = False,
                 affine: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple:
    """``(image, valid, aux)`` on ``device`` from a uint8 batch.

    Args:
        batch: ``image`` ``(B, 3, H, W)`` uint8, ``hole`` ``(B, 1, H, W)`` uint8 (1 = hole),
            optionally ``aux`` ``(B, k, 3, H, W)`` uint8.
        device: the training device.
        channels_last: return the 4-d tensors in channels-last memory format (CUDA).
        affine: :func:`imagenet_affine` on ``device`` (None makes it here: a copy to the device).

    Returns:
        ``image`` float32 normalised, ``valid`` float32 (1 = known), and ``aux``: a 1-tuple
        holding the normalised ``(B, k, 3, H, W)`` neighbours, or ``()``.
    """
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    affine = affine if affine is not None else imagenet_affine(device)
    image = normalize_uint8(batch["image"].to(device, non_blocking=True), affine).contiguous(memory_format=fmt)
    valid = (1.0 - batch["hole"].to(device, non_blocking=True).float()).contiguous(memory_format=fmt)
    aux = ()
    if "aux" in batch:
        aux = (normalize_uint8(batch["aux"].to(device, non_blocking=True), affine),)
    return image, valid, aux


def make_loader(dataset, sampler, workers: int, device: torch.device) -> torch.utils.data.DataLoader:
    """The training loader: ``workers`` persistent processes, each :data:`PREFETCH_FACTOR` batches ahead.

    ``workers=0`` loads in the training process (tests, debugging). Pinned memory on CUDA.
    """
    extra = {"persistent_workers": True, "prefetch_factor": PREFETCH_FACTOR} if workers > 0 else {}
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                                       pin_memory=device.type == "cuda", **extra)
