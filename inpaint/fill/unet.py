"""Inpainting real images of any size with a trained PConv or Sim-K UNet.

The UNets need H and W that are multiples of ``2 ** layer_size``: the image is
padded at the bottom/right with *hole* pixels (valid = 0), run, and cropped
back. The padding's values never reach the result (they are masked out like
any hole); the network only sees that the picture ends there, as at a border
(deep layers may fill the padded strip like any hole, so the amount of padding
can shift the prediction slightly near the bottom/right edges). With ``tile``
the image is instead cut into overlapping ``tile x tile`` windows (e.g. the
training size) that are inpainted separately and blended with linear ramps;
windows without a hole pixel are skipped. The result keeps every known pixel
and takes the network's output in the hole (the composite ``I_comp``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..nn.vgg import denormalize, normalize_image
from ..nn.unet import SimKUNet


def _check(image: np.ndarray, hole: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"Expected image of shape (H, W, 3) and dtype uint8, got {image.shape} {image.dtype}")
    if hole.shape != image.shape[:2] or hole.dtype != np.bool_:
        raise ValueError(f"Expected hole of shape {image.shape[:2]} and dtype bool, got {hole.shape} {hole.dtype}")


def _resized(aux: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if aux.shape[:2] == shape:
        return aux
    return np.asarray(Image.fromarray(aux).resize((shape[1], shape[0]), Image.BICUBIC))


def _run(model: nn.Module, image: np.ndarray, hole: np.ndarray, aux: Sequence[np.ndarray], device) -> np.ndarray:
    """Network output ``(3, H, W)`` float32 in [0, 1] for one window, padded to the model's multiple."""
    h, w = hole.shape
    mult = model.multiple
    ph, pw = -h % mult, -w % mult
    x = torch.from_numpy(normalize_image(image))[None]
    valid = torch.from_numpy((~hole).astype(np.float32))[None, None]
    pad = (0, pw, 0, ph)
    x, valid = nn.functional.pad(x, pad), nn.functional.pad(valid, pad)
    dtype = next(model.parameters()).dtype
    x, valid = x.to(device, dtype), valid.to(device, dtype)
    args = (x * valid, valid)
    if aux:   # Sim-K with k >= 1: (1, 3k, H, W)
        a = torch.from_numpy(np.concatenate([normalize_image(im) for im in aux]))[None]
        args += (nn.functional.pad(a, pad).to(device, dtype),)
    out = model(*args)
    return denormalize(out.float())[0, :, :h, :w].cpu().numpy()


def _ramp(n: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    r = np.ones(n, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1)
        if not first:
            r[:overlap] = ramp
        if not last:
            r[-overlap:] = ramp[::-1]
    return r


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(starts))


def fill_image(
    model: nn.Module,
    image: np.ndarray,
    hole: np.ndarray,
    *,
    aux: Sequence[np.ndarray] | None = None,
    device="cpu",
    tile: int | None = None,
    overlap: float = 0.25,
) -> np.ndarray:
    """Inpaint ``image`` where ``hole`` is True.

    Args:
        model: a :class:`~inpaint.nn.unet.PConvUNet` or :class:`~inpaint.nn.unet.SimKUNet`
            (e.g. from :func:`inpaint.checkpoint.load_checkpoint`); run in eval mode.
        image: ``(H, W, 3)`` uint8 RGB, any size.
        hole: ``(H, W)`` bool, True = missing.
        aux: Sim-K only: ``k`` auxiliary images ``(h, w, 3)`` uint8, resized to ``(H, W)``.
        device: where to run.
        tile: None = the whole (padded) image at once; else the side of overlapping
            square windows (e.g. the training size), for very large images.
        overlap: overlap of neighbouring windows as a fraction of ``tile``.

    Returns:
        ``(H, W, 3)`` uint8 composite: known pixels unchanged, holes from the network.

    Raises:
        ValueError: bad shapes or dtypes, wrong number of auxiliary images, bad tile.
    """
    image, hole = np.asarray(image), np.asarray(hole)
    _check(image, hole)
    k = model.k if isinstance(model, SimKUNet) else 0
    aux = [np.asarray(a) for a in (aux or [])]
    if len(aux) != k:
        raise ValueError(f"Expected {k} auxiliary images for this model, got {len(aux)}")
    for a in aux:
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise ValueError(f"Expected auxiliary images of shape (h, w, 3) uint8, got {a.shape} {a.dtype}")
    aux = [_resized(a, hole.shape) for a in aux]
    if not hole.any():
        return image.copy()
    h, w = hole.shape
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if tile is None or (h <= tile and w <= tile):
                pred = _run(model, image, hole, aux, device)
            else:
                if tile < model.multiple or tile % model.multiple:
                    raise ValueError(f"Expected tile to be a multiple of {model.multiple}, got {tile}")
                ov = int(tile * overlap)
                acc = np.zeros((3, h, w), np.float32)
                weight = np.zeros((h, w), np.float32)
                ys, xs = _starts(h, tile, ov), _starts(w, tile, ov)
                for i, y in enumerate(ys):
                    for j, x in enumerate(xs):
                        win = (slice(y, y + tile), slice(x, x + tile))
                        if not hole[win].any():   # nothing of this window is used: known pixels are kept
                            continue
                        out = _run(model, image[win], hole[win], [a[win] for a in aux], device)
                        th, tw = out.shape[1:]
                        wgt = np.outer(_ramp(th, ov, i == 0, i == len(ys) - 1), _ramp(tw, ov, j == 0, j == len(xs) - 1))
                        acc[:, y : y + th, x : x + tw] += out * wgt
                        weight[y : y + th, x : x + tw] += wgt
                pred = acc / np.maximum(weight, 1e-8)
    finally:
        model.train(was_training)
    pred = (pred.transpose(1, 2, 0) * 255 + 0.5).clip(0, 255).astype(np.uint8)
    out = image.copy()
    out[hole] = pred[hole]
    return out
