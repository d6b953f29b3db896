"""Partial convolution, eq. (1)-(2) of Liu et al. 2018, "Image Inpainting for Irregular Holes Using Partial Convolutions".

For a window with features ``X`` and validity mask ``M`` (1 = known)::

    x' = W^T (X * M) * sum(1) / sum(M) + b    if sum(M) > 0
    x' = 0                                     otherwise (the bias too)
    m' = 1 if sum(M) > 0 else 0

``sum(1)`` counts every element of the window, padding included, so image
borders behave like holes (zero padding of the mask: "partial convolution as
padding"). Deviations from common reimplementations:

* naoto0804's ``pytorch-inpainting-with-partial-conv`` drops the ``sum(1)``
  factor (it divides by ``sum(M)`` only); we keep it, as the paper does.
* NVIDIA's ``partialconv2d.py`` computes the mask statistics in the input
  dtype (fp16 with eps 1e-8 underflows to NaN under autocast) and caches
  per-call state on the module; here the statistics are float32 (float64 for
  float64 inputs), autocast or not, and the module is stateless apart from its
  parameters and a fixed ones kernel.
* Mask statistics carry no gradient (the mask is a binary indicator).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ..device import autocast


def _mask_stats(valid: torch.Tensor, ones: torch.Tensor, stride, padding, dilation, window: float, dtype=torch.float32):
    """``(ratio, updated)`` of shape ``(B, 1, H', W')`` computed outside autocast in ``dtype`` (float32 or wider).

    ``sum(M)`` is a box filter of the (channel-summed) mask: ``avg_pool2d`` times the
    kernel area where it applies (faster than a 1-channel convolution), else a
    convolution with the ones kernel.
    """
    dtype = torch.promote_types(dtype, torch.float32)
    kh, kw = ones.shape[-2:]
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    with torch.no_grad(), autocast(valid.device.type, enabled=False):
        counts = valid.to(dtype)
        if counts.shape[1] > 1:
            counts = counts.sum(1, keepdim=True)
        if dilation == (1, 1) and 2 * padding[0] <= kh and 2 * padding[1] <= kw:
            mean_m = F.avg_pool2d(counts, (kh, kw), stride, padding, count_include_pad=True)
        else:
            mean_m = F.conv2d(counts, ones.to(dtype), None, stride, padding, dilation) / (kh * kw)
        updated = (mean_m > 0).to(dtype)
        ratio = (window / (kh * kw)) / mean_m.clamp_min(1e-12) * updated
    return ratio, updated


def partial_conv2d(
    x: torch.Tensor,
    valid: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    multi_channel: bool = False,
    ones: torch.Tensor | None = None,
    *,
    premasked: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Partial convolution of ``x`` restricted to its valid pixels, eq. (1)-(2) of Liu et al. 2018.

    Args:
        x: ``(B, C_in, H, W)`` features.
        valid: validity mask, 1 = known, 0 = hole: ``(B, 1, H, W)`` (single-channel,
            shared by all input channels), or ``(B, C_in, H, W)`` with ``multi_channel``.
        weight: ``(C_out, C_in, kh, kw)``.
        bias: ``(C_out,)`` or None; added unscaled where the window has a valid element.
        stride, padding, dilation: as in ``torch.nn.functional.conv2d`` (int or pair);
            padded elements count as holes.
        multi_channel: ``valid`` has one channel per input channel; ``sum(M)`` and
            ``sum(1)`` then run over all input channels of the window.
        ones: optional ``(1, 1, kh, kw)`` ones kernel (a module buffer); made on the fly if None.
        premasked: ``x`` already is ``X * M`` (the multiplication is skipped). Then a
            single-channel ``valid`` may be fractional: the share of valid channels per
            pixel, which gives exactly the per-channel ``sum(M)`` without materialising
            a ``(B, C_in, H, W)`` mask (the UNet decoder's concatenated masks).

    Returns:
        ``(y, updated_valid)``: ``y`` of shape ``(B, C_out, H', W')``, 0 wherever the window
        holds no valid element; ``updated_valid`` in ``y``'s dtype, ``(B, 1, H', W')``, or
        ``(B, C_out, H', W')`` (an expanded view) with ``multi_channel``.

    Raises:
        ValueError: the mask's shape does not fit ``x`` and ``multi_channel``.
    """
    if x.ndim != 4:
        raise ValueError(f"Expected x of shape (B, C, H, W), got {tuple(x.shape)}")
    b, c, h, w = x.shape
    want_c = c if multi_channel else 1
    if valid.ndim != 4 or valid.shape[0] != b or valid.shape[1] != want_c or valid.shape[2:] != x.shape[2:]:
        kind = "per-channel (multi_channel=True)" if multi_channel else "single-channel (multi_channel=False)"
        raise ValueError(f"Expected {kind} valid mask of shape {(b, want_c, h, w)}, got {tuple(valid.shape)}")
    kh, kw = weight.shape[-2:]
    if ones is None:
        ones = torch.ones(1, 1, kh, kw, device=x.device)
    window = float(kh * kw * (c if multi_channel else 1))
    ratio, updated = _mask_stats(valid, ones, stride, padding, dilation, window, x.dtype)
    y = F.conv2d(x if premasked else x * valid.to(x.dtype), weight, None, stride, padding, dilation)
    y = y.mul_(ratio.to(y.dtype))  # in place: the conv's backward does not need its output
    if bias is not None:
        y = y.addcmul_(bias.view(1, -1, 1, 1).to(y.dtype), updated.to(y.dtype))
    updated = updated.to(y.dtype)
    if multi_channel:
        updated = updated.expand(-1, weight.shape[0], -1, -1)
    return y, updated


class PartialConv2d(nn.Module):
    """Partial convolution layer; ``layer(x, valid) -> (y, updated_valid)``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, bias: as ``nn.Conv2d``.
        multi_channel: take per-channel masks ``(B, C_in, H, W)`` instead of ``(B, 1, H, W)``.
        device, dtype: factory arguments for the parameters.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
        multi_channel: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.multi_channel = multi_channel
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size, **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.register_buffer("ones", torch.ones(1, 1, *self.kernel_size, device=device), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (Kaiming normal, fan-in, ReLU gain) weights and zero bias."""
        nn.init.kaiming_normal_(self.weight, mode="fan_in", nonlinearity="relu")
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, *, premasked: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`partial_conv2d`."""
        return partial_conv2d(
            x, valid, self.weight, self.bias, self.stride, self.padding, self.dilation, self.multi_channel, self.ones,
            premasked=premasked,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}, "
            f"multi_channel={self.multi_channel}"
        )
