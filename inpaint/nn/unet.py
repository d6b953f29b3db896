"""The inpainting UNets: PConv (Liu et al. 2018, appendix table) and Sim-K (Iskakov 2018).

``PConvUNet``: encoder of partial convolutions 7x7/64, 5x5/128, 5x5/256, 3x3/512,
then 3x3/512 (stride 2, ReLU, BatchNorm except on the first layer); decoder of
nearest 2x upsampling of features *and* masks, concatenation with the encoder
skip features and masks, partial convolution 3x3, BatchNorm, LeakyReLU(0.2); the last layer sees the input image and mask and has neither
BatchNorm nor activation. ``layer_size`` 8 at 512 px, 7 at 256 px.

``SimKUNet``: the same shape with plain convolutions and no BatchNorm; its input
stacks the masked image, the validity mask and ``k`` auxiliary (retrieved)
images, 3 + 1 + 3k channels; ``k = 0`` is Sim-0.

Both work on ImageNet-normalised images and return ``I_out`` ``(B, 3, H, W)``;
H and W must be multiples of ``2 ** layer_size`` (see ``inpaint.fill.unet`` for padding).

Implementation note: a decoder layer's concatenated mask is per channel but made
of two single-channel masks (upsampled and skip); the features are masked
before the concatenation and the layer gets the share of valid channels per
pixel, ``(c_up m_up + c_skip m_skip) / (c_up + c_skip)``, which yields exactly
the per-channel ``sum(M)`` of eq. (1) without a ``(B, C, H, W)`` mask tensor.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .pconv import PartialConv2d

ENCODER = ((7, 64), (5, 128), (5, 256), (3, 512))   # (kernel, channels) of the first layers; then 3x3/512


def encoder_plan(layer_size: int, width: float) -> list[tuple[int, int]]:
    """``(kernel, channels)`` of each encoder layer for a depth and a width multiplier."""
    if layer_size < 1:
        raise ValueError(f"Expected layer_size >= 1, got {layer_size}")
    if width <= 0:
        raise ValueError(f"Expected width > 0, got {width}")
    plan = [ENCODER[i] if i < len(ENCODER) else (3, 512) for i in range(layer_size)]
    return [(k, max(1, round(c * width))) for k, c in plan]


def he_init(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """He (Kaiming normal, fan-in) weights and zero biases for every (partial) convolution.

    Args:
        module: model to (re-)initialise in place.
        generator: torch generator to draw from; None = torch's global one.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, PartialConv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _check_input(x: torch.Tensor, channels: int, multiple: int, what: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"Expected {what} of shape (B, {channels}, H, W), got {tuple(x.shape)}")
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise ValueError(f"Expected {what} H and W to be multiples of {multiple}, got {tuple(x.shape[2:])}")


class PConvUNet(nn.Module):
    """Partial-convolution UNet of Liu et al. 2018.

    Args:
        layer_size: encoder depth (7 for 256 px, 8 for 512 px).
        width: channel multiplier (1 = the paper; e.g. 0.125 for tiny tests).
        in_channels: image channels.
        device, dtype: factory arguments.
    """

    def __init__(self, layer_size: int = 7, width: float = 1.0, in_channels: int = 3, device=None, dtype=None):
        super().__init__()
        f = {"device": device, "dtype": dtype}
        self.layer_size = layer_size
        self.in_channels = in_channels
        plan = encoder_plan(layer_size, width)
        chans = [in_channels] + [c for _, c in plan]
        self.enc = nn.ModuleList()
        self.enc_bn = nn.ModuleList()
        for i, (k, c) in enumerate(plan):
            self.enc.append(PartialConv2d(chans[i], c, k, 2, k // 2, bias=i == 0, **f))
            self.enc_bn.append(nn.Identity() if i == 0 else nn.BatchNorm2d(c, **f))
        # decoder layer i (deepest first) merges up(chans[i + 1]) with the skip chans[i]
        self.dec = nn.ModuleList()
        self.dec_bn = nn.ModuleList()
        for i in reversed(range(layer_size)):
            out = chans[i] if i > 0 else in_channels
            self.dec.append(PartialConv2d(chans[i + 1] + chans[i], out, 3, 1, 1, bias=i == 0, **f))
            self.dec_bn.append(nn.Identity() if i == 0 else nn.BatchNorm2d(out, **f))
        self.encoder_bn_frozen = False
        he_init(self)

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this."""
        return 2**self.layer_size

    def forward(self, image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Inpaint.

        Args:
            image: ``(B, C, H, W)`` ImageNet-normalised image (values under the hole are ignored).
            valid: ``(B, 1, H, W)`` float, 1 = known pixel.

        Returns:
            ``I_out`` ``(B, C, H, W)``.
        """
        _check_input(image, self.in_channels, self.multiple, "image")
        _check_input(valid, 1, self.multiple, "valid mask")
        m = valid.to(image.dtype)
        hm = image * m                       # features are kept pre-masked (X * M), computed once per level
        skips = [(hm, m)]
        for conv, bn in zip(self.enc, self.enc_bn):
            h, m = conv(hm, m, premasked=True)
            hm = F.relu(bn(h)) * m
            skips.append((hm, m))
        hm, m = skips.pop()
        for i, (conv, bn) in enumerate(zip(self.dec, self.dec_bn)):
            skip_hm, skip_m = skips.pop()
            c_up, c_skip = hm.shape[1], skip_hm.shape[1]
            m = F.interpolate(m, scale_factor=2.0, mode="nearest")
            # per-channel mask [m] * c_up + [skip_m] * c_skip, passed as its channel share (same sum(M))
            dt = torch.promote_types(m.dtype, torch.float32)    # float32 even under autocast
            share = (m.to(dt) * c_up + skip_m.to(dt) * c_skip) / (c_up + c_skip)
            h, m = conv(torch.cat([F.interpolate(hm, scale_factor=2.0, mode="nearest"), skip_hm], 1), share, premasked=True)
            if i == len(self.dec) - 1:
                return h
            hm = F.leaky_relu(bn(h), 0.2) * m

    def freeze_encoder_bn(self, frozen: bool = True) -> "PConvUNet":
        """Fine-tuning mode of the paper: the encoder's BatchNorm keeps its statistics and affine fixed."""
        self.encoder_bn_frozen = frozen
        for bn in self.enc_bn:
            for p in bn.parameters():
                p.requires_grad_(not frozen)
        return self.train(self.training)

    def train(self, mode: bool = True) -> "PConvUNet":
        super().train(mode)
        if self.encoder_bn_frozen:
            for bn in self.enc_bn:
                bn.eval()
        return self


class SimKUNet(nn.Module):
    """Sim-K UNet of Iskakov 2018: the PConv UNet's shape with plain convolutions, no BatchNorm.

    Args:
        k: number of auxiliary images (0 = Sim-0).
        layer_size, width: as :class:`PConvUNet`.
        device, dtype: factory arguments.
    """

    def __init__(self, k: int = 1, layer_size: int = 7, width: float = 1.0, device=None, dtype=None):
        super().__init__()
        if k < 0:
            raise ValueError(f"Expected k >= 0, got {k}")
        f = {"device": device, "dtype": dtype}
        self.k = k
        self.layer_size = layer_size
        self.in_channels = 3 + 1 + 3 * k
        plan = encoder_plan(layer_size, width)
        chans = [self.in_channels] + [c for _, c in plan]
        self.enc = nn.ModuleList(nn.Conv2d(chans[i], c, kk, 2, kk // 2, **f) for i, (kk, c) in enumerate(plan))
        self.dec = nn.ModuleList(
            nn.Conv2d(chans[i + 1] + chans[i], chans[i] if i > 0 else 3, 3, 1, 1, **f) for i in reversed(range(layer_size))
        )
        he_init(self)

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this."""
        return 2**self.layer_size

    def forward(self, image: torch.Tensor, valid: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        """Inpaint with auxiliary images.

        Args:
            image: ``(B, 3, H, W)`` ImageNet-normalised image; zeroed under the hole here.
            valid: ``(B, 1, H, W)`` float, 1 = known pixel.
            aux: ``(B, k, 3, H, W)`` or ``(B, 3k, H, W)`` normalised auxiliary images; None for k = 0.

        Returns:
            ``I_out`` ``(B, 3, H, W)``.
        """
        _check_input(image, 3, self.multiple, "image")
        _check_input(valid, 1, self.multiple, "valid mask")
        parts = [image * valid.to(image.dtype), valid.to(image.dtype)]
        if self.k:
            if aux is None:
                raise ValueError(f"Expected {self.k} auxiliary images for Sim-{self.k}, got None")
            if aux.ndim == 5:
                aux = aux.flatten(1, 2)
            _check_input(aux, 3 * self.k, self.multiple, "aux")
            parts.append(aux.to(image.dtype))
        elif aux is not None and aux.numel():
            raise ValueError(f"Expected no auxiliary images for Sim-0, got {tuple(aux.shape)}")
        h = torch.cat(parts, 1)
        if image.is_contiguous(memory_format=torch.channels_last):   # the (B, 3k, H, W) aux part makes cat contiguous
            h = h.contiguous(memory_format=torch.channels_last)
        skips = [h]
        for conv in self.enc:
            h = F.relu(conv(h))
            skips.append(h)
        h = skips.pop()
        for i, conv in enumerate(self.dec):
            h = torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skips.pop()], 1)
            h = conv(h)
            if i < len(self.dec) - 1:
                h = F.leaky_relu(h, 0.2)
        return h
