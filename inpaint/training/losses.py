"""The PConv training loss, section 3.4 of Liu et al. 2018 (also used for Sim-K, Iskakov 2018).

With ``M`` the validity mask (1 = known), ``I_comp = M * I_gt + (1 - M) * I_out``::

    L_valid = mean |M * (I_out - I_gt)|             (mean over all elements)
    L_hole  = mean |(1 - M) * (I_out - I_gt)|
    L_perc  = sum_p mean |psi_p(I_out) - psi_p(I_gt)| + mean |psi_p(I_comp) - psi_p(I_gt)|
    L_style = sum_p mean |K_p(I_out) - K_p(I_gt)| + mean |K_p(I_comp) - K_p(I_gt)|,  K_p = psi^T psi / (C H W)
    L_tv    = TV of I_comp over pixel pairs inside the 1-pixel dilation of the hole, / N(I_comp)
    total   = 1 L_valid + 6 L_hole + 0.05 L_perc + 120 L_style + 0.1 L_tv

``psi_p`` are VGG-16 pool1, pool2, pool3 on ImageNet-normalised images. The
Gram matrices and all reductions run in float32 even under autocast; the
ground truth's features run without autograd.

Value range (a choice the paper leaves open): every term, the pixel and TV
terms included, sees ImageNet-normalised images ``(x - mean) / std``, the space the
networks work in (as in the common PyTorch reimplementations). With ``std`` about
0.226, ``L_valid``, ``L_hole`` and ``L_tv`` are about 4.4 times (1 / std, per channel
4.4, 4.5, 4.4) what they would be on ``[0, 1]`` images, so against the VGG terms,
which see normalised images either way, the pixel and TV terms weigh about 4.4
times more than with a loss on ``[0, 1]`` images and the paper's weights.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..device import autocast

TERMS = ("valid", "hole", "perceptual", "style", "tv")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (the paper's values)."""

    valid: float = 1.0
    hole: float = 6.0
    perceptual: float = 0.05
    style: float = 120.0
    tv: float = 0.1

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, C)`` Gram matrix normalised by ``C * H * W``, float32 even under autocast."""
    b, c, h, w = features.shape
    f = features.float().reshape(b, c, h * w)
    with autocast(f.device.type, enabled=False):   # autocast would run bmm in bf16/fp16
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def hole_tv_loss(comp: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Total variation of ``comp`` over neighbour pairs inside the 1-pixel dilated hole.

    Args:
        comp: ``(B, C, H, W)`` composite image.
        valid: ``(B, 1, H, W)``, 1 = known.
    """
    region = F.max_pool2d(1.0 - valid.float(), 3, 1, 1)
    comp = comp.float()
    dx = (comp[..., :, 1:] - comp[..., :, :-1]).abs() * (region[..., :, 1:] * region[..., :, :-1])
    dy = (comp[..., 1:, :] - comp[..., :-1, :]).abs() * (region[..., 1:, :] * region[..., :-1, :])
    return (dx.sum() + dy.sum()) / comp.numel()


def inpainting_loss(
    output: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    features: Callable[[torch.Tensor], dict[str, torch.Tensor]] | None,
    weights: LossWeights = LossWeights(),
) -> dict[str, torch.Tensor]:
    """Every term of the PConv loss and their weighted sum.

    Args:
        output: ``I_out`` ``(B, 3, H, W)``, ImageNet-normalised.
        target: ``I_gt`` ``(B, 3, H, W)``, ImageNet-normalised.
        valid: ``(B, 1, H, W)`` float, 1 = known.
        features: VGG feature extractor returning ``{layer: (B, C, h, w)}``
            (e.g. :class:`inpaint.nn.vgg.VGG16Features`); None skips the perceptual and
            style terms (they are reported as 0).
        weights: term weights.

    Returns:
        ``{"valid", "hole", "perceptual", "style", "tv", "total"}`` scalar float32 tensors.
    """
    if output.shape != target.shape or output.ndim != 4:
        raise ValueError(f"Expected output and target of the same shape (B, C, H, W), got {tuple(output.shape)} and {tuple(target.shape)}")
    if valid.shape != (output.shape[0], 1, *output.shape[2:]):
        raise ValueError(f"Expected valid of shape {(output.shape[0], 1, *output.shape[2:])}, got {tuple(valid.shape)}")
    out, gt, m = output.float(), target.float(), valid.float()
    comp = m * gt + (1 - m) * out
    terms = {
        "valid": (m * (out - gt)).abs().mean(),
        "hole": ((1 - m) * (out - gt)).abs().mean(),
    }
    zero = out.new_zeros(())
    perc, style = zero, zero
    if features is not None:
        b = out.shape[0]
        with torch.no_grad():   # the ground truth's features need no autograd graph
            gt_feats = features(gt.to(output.dtype))
        feats = features(torch.cat([out, comp]).to(output.dtype))
        for name, f in feats.items():
            f, f_gt = f.float(), gt_feats[name].float()
            f_out, f_comp = f[:b], f[b:]
            perc = perc + (f_out - f_gt).abs().mean() + (f_comp - f_gt).abs().mean()
            g_gt = gram_matrix(f_gt)
            style = style + (gram_matrix(f_out) - g_gt).abs().mean() + (gram_matrix(f_comp) - g_gt).abs().mean()
    terms["perceptual"] = perc
    terms["style"] = style
    terms["tv"] = hole_tv_loss(comp, m)
    w = weights.to_dict()
    terms["total"] = sum(w[k] * terms[k] for k in TERMS)
    return terms


class InpaintingLoss(nn.Module):
    """``loss(output, target, valid) -> dict`` of terms; see :func:`inpainting_loss`.

    Args:
        features: frozen VGG feature extractor (pool1-pool3), or None for pixel terms only.
        weights: term weights.
    """

    def __init__(self, features: nn.Module | None, weights: LossWeights = LossWeights()):
        super().__init__()
        self.features = features
        self.weights = weights

    def forward(self, output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        return inpainting_loss(output, target, valid, self.features, self.weights)
