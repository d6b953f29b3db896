"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), v0.1.

The distance of the ``lpips`` package (``lpips.LPIPS(net=..., version="0.1")``)
computed with networks defined in this project: inputs in ``[-1, 1]`` are
shifted and scaled per channel (``(x - shift) / scale``, shift
``(-0.030, -0.088, -0.188)``, scale ``(0.458, 0.448, 0.450)``), five
backbone activations are taken (AlexNet relu1-relu5, the default, or VGG-16
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3), each unit-normalised over the
channels (``f / (||f|| + 1e-10)``), squared differences are weighted per
channel by the v0.1 linear layers (1x1 convolutions without bias), averaged
over space and summed over the five layers. Images are compared at the
evaluation size, without resizing; uint8 images map to ``[-1, 1]`` as
``2 * x / 255 - 1``.

Weights, all loaded unchanged with ``torch.load(weights_only=True)``:

- backbone: torchvision's ``alexnet-owt-7be5be79.pth`` (``--alexnet-weights``)
  or ``vgg16-397923af.pth`` (``--vgg-weights``), from the option, torch.hub's
  cache or a download (:mod:`inpaint.nn.hub`);
- linear layers: the lpips v0.1 files ``weights/v0.1/alex.pth`` / ``vgg.pth``
  (keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight``) from
  ``--lpips-weights``, else the installed ``lpips`` package
  (``pip install --no-deps lpips`` ships them; it is located, never imported,
  since it imports torchvision), else torch.hub's cache
  ``checkpoints/lpips_v0.1_<net>-<sha256 prefix>.pth``, else a download from
  the authors' GitHub repository (hash checked).
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.alexnet import AlexNetFeatures, load_alexnet
from ..nn.hub import check_state_dict, load_hub_state_dict, load_state_dict_file
from ..nn.vgg import VGG16Features, load_vgg16

NETS = ("alex", "vgg")
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
VGG_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
LINEAR_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/{net}.pth"
LINEAR_FILE = {"alex": "lpips_v0.1_alex-df73285e.pth", "vgg": "lpips_v0.1_vgg-a78928a0.pth"}
"""torch.hub cache names; the suffix is the sha256 prefix of the lpips 0.1.4 wheel's files."""


class _VGGTaps(nn.Module):
    """VGG-16 features returning the five LPIPS layers as a list."""

    def __init__(self, features: VGG16Features):
        super().__init__()
        self.net = features

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.net(x)
        return [out[name] for name in VGG_LAYERS]


def lpips_from_features(feats0: Sequence[torch.Tensor], feats1: Sequence[torch.Tensor],
                        weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """The LPIPS sum over layers from backbone activations.

    Args:
        feats0, feats1: per layer ``(B, C_k, h_k, w_k)`` activations of the two images.
        weights: per layer ``(1, C_k, 1, 1)`` non-negative channel weights.

    Returns:
        ``(B,)`` distances.
    """
    total = 0.0
    for a, b, w in zip(feats0, feats1, weights):
        a = a / (torch.sqrt(torch.sum(a * a, dim=1, keepdim=True)) + 1e-10)
        b = b / (torch.sqrt(torch.sum(b * b, dim=1, keepdim=True)) + 1e-10)
        total = total + F.conv2d((a - b) ** 2, w).mean(dim=(1, 2, 3))
    return total


class LPIPS(nn.Module):
    """The LPIPS v0.1 distance on a frozen backbone.

    Args:
        backbone: maps scaled ``(B, 3, H, W)`` images to the list of five activations.
        channels: channels of those activations.
    """

    def __init__(self, backbone: nn.Module, channels: Sequence[int], *, device=None, dtype=None):
        super().__init__()
        self.backbone = backbone
        self.lins = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1, device=device, dtype=dtype), requires_grad=False)
                                      for c in channels])
        self.register_buffer("shift", torch.tensor(SHIFT, device=device).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE, device=device).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """``(B,)`` distances of two batches ``(B, 3, H, W)`` in ``[-1, 1]`` (one backbone pass for both)."""
        feats = self.backbone((torch.cat([x0, x1]) - self.shift) / self.scale)
        n = len(x0)
        return lpips_from_features([f[:n] for f in feats], [f[n:] for f in feats], list(self.lins))


def _check_net(net: str) -> None:
    if net not in NETS:
        raise ValueError(f"Expected an LPIPS backbone among {', '.join(NETS)}; got {net!r}")


def package_linear_file(net: str) -> Path | None:
    """``lpips/weights/v0.1/<net>.pth`` of an installed ``lpips`` package (located without importing it), or None."""
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "weights" / "v0.1" / f"{net}.pth"
        if path.is_file():
            return path
    return None


def load_linear_weights(net: str, weights: str | os.PathLike | None = None, *, progress: bool = True) -> list[torch.Tensor]:
    """The five v0.1 linear layers of ``net`` (see the module docstring for where they are looked for).

    Raises:
        InputError: offline without the file, or a file of another layout.
    """
    _check_net(net)
    if weights is None and package_linear_file(net) is not None:
        weights = package_linear_file(net)
    if weights is not None:
        state, source = load_state_dict_file(weights), str(weights)
    else:
        state, source = load_hub_state_dict(LINEAR_URL.format(net=net), progress=progress, option="--lpips-weights",
                                            file_name=LINEAR_FILE[net], random_option="--allow-random-weights")
    expected = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(CHANNELS[net])}
    check_state_dict(state, expected, source, f"v0.1 {net} linear-layer", library="LPIPS")
    return [state[k].float() for k in expected]


def load_lpips(
    net: str = "alex", *, weights: str | os.PathLike | None = None, backbone_weights: str | os.PathLike | None = None,
    allow_random: bool = False, progress: bool = True,
) -> LPIPS:
    """LPIPS v0.1 with the ``net`` backbone (``alex`` or ``vgg``), in eval mode.

    Args:
        net: backbone.
        weights: the v0.1 linear-layer file (``--lpips-weights``).
        backbone_weights: torchvision's AlexNet or VGG-16 file (``--alexnet-weights`` / ``--vgg-weights``).
        allow_random: where a file is not given, fixed random weights with a warning (smoke tests only).
        progress: download progress bars.

    Raises:
        InputError: offline without weights, or a file of another layout.
        ValueError: an unknown ``net``.
    """
    _check_net(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one warning below instead of the backbone's
        if net == "alex":
            backbone = AlexNetFeatures(load_alexnet(backbone_weights, allow_random=allow_random, progress=progress))
        else:
            vgg = load_vgg16(backbone_weights, allow_random=allow_random, progress=progress)
            backbone = _VGGTaps(VGG16Features(vgg, VGG_LAYERS))
    model = LPIPS(backbone, CHANNELS[net])
    if weights is None and allow_random:
        gen = torch.Generator().manual_seed(2)
        lins = [torch.rand(1, c, 1, 1, generator=gen) / c for c in CHANNELS[net]]
    else:
        lins = load_linear_weights(net, weights, progress=progress)
    with torch.no_grad():
        for p, w in zip(model.lins, lins):
            p.copy_(w)
    if allow_random and (weights is None or backbone_weights is None):
        warnings.warn(f"Using random LPIPS {net} weights where none were given (--allow-random-weights): "
                      "LPIPS values are meaningless; use for smoke tests only.", stacklevel=2)
    return model.eval()


@torch.no_grad()
def lpips_scores(model: LPIPS, images0: np.ndarray, images1: np.ndarray, *, batch_size: int = 16,
                 device: str = "cpu") -> np.ndarray:
    """LPIPS of image pairs.

    Args:
        model: from :func:`load_lpips`.
        images0, images1: ``(N, H, W, 3)`` uint8 RGB of one shape.
        batch_size: pairs per forward pass.
        device: where to run the network.

    Returns:
        ``(N,)`` float64 distances (0 for identical images).
    """
    images0, images1 = np.asarray(images0), np.asarray(images1)
    if images0.shape != images1.shape or images0.ndim != 4 or images0.shape[3] != 3:
        raise ValueError(f"Expected two (N, H, W, 3) batches of one shape, got {images0.shape} and {images1.shape}")
    model = model.to(device).eval()

    def scaled(batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(batch)).to(device).permute(0, 3, 1, 2).float() * (2.0 / 255.0) - 1.0

    out = [model(scaled(images0[i:i + batch_size]), scaled(images1[i:i + batch_size])).double().cpu().numpy()
           for i in range(0, len(images0), batch_size)]
    return np.concatenate(out) if out else np.zeros(0)
