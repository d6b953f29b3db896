"""VGG-16 (Simonyan & Zisserman 2015, configuration D) with torchvision's exact module layout.

The module tree matches ``torchvision.models.vgg16()`` index for index
(``features.0`` ... ``features.30``, ``avgpool``, ``classifier.0/3/6``), so
torchvision's published ImageNet checkpoint ``vgg16-397923af.pth`` loads
unchanged with ``strict=True``; torchvision itself is never imported.

Deviation: a ``width`` multiplier scales every channel count (and the hidden
classifier width) for tiny test models; ``width=1`` is the real network.

:class:`VGG16Features` is the frozen feature extractor used by the PConv
perceptual/style losses (pool1-pool3) and by retrieval descriptors (conv5_3).
"""
from __future__ import annotations

import os
import warnings
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .hub import check_state_dict, load_hub_state_dict

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_SEED = 0  # seed of the random network behind ``allow_random`` (index and query must agree)

# torchvision's ``cfgs["D"]``: conv widths, "M" = 2x2 max pool.
CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _layer_names() -> tuple[str, ...]:
    """Names of ``features`` children in order: conv1_1, relu1_1, ..., pool5."""
    names, block, conv = [], 1, 1
    for item in CFG_D:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return tuple(names)


LAYER_NAMES = _layer_names()
LAYER_INDEX = {name: i for i, name in enumerate(LAYER_NAMES)}


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class VGG16(nn.Module):
    """VGG-16 classifier laid out exactly like torchvision's ``vgg16()``.

    Args:
        width: channel multiplier (1 = the real network, 138 M parameters).
        num_classes: classifier outputs.
        device, dtype: where to create the parameters (``"meta"`` builds the
            full-size layout without allocating it).
        generator: draws the random initialisation (default: torch's global one).
    """

    def __init__(self, width: float = 1.0, num_classes: int = 1000, *, device=None, dtype=None,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not width > 0:
            raise ValueError(f"Expected width > 0, got {width}")
        kw = {"device": device, "dtype": dtype}
        layers: list[nn.Module] = []
        in_ch = 3
        for item in CFG_D:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                out_ch = _scaled(item, width)
                layers += [nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, **kw), nn.ReLU(inplace=True)]
                in_ch = out_ch
        self.width = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        hidden = _scaled(4096, width)
        self.classifier = nn.Sequential(
            nn.Linear(in_ch * 7 * 7, hidden, **kw), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(hidden, hidden, **kw), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(hidden, num_classes, **kw),
        )
        if device is None or torch.device(device).type != "meta":
            self._init_weights(generator)

    def _init_weights(self, generator: torch.Generator | None) -> None:
        """torchvision's initialisation (used only when no checkpoint is loaded)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01, generator=generator)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, num_classes)`` for normalised images ``(B, 3, H, W)``."""
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class VGG16Features(nn.Module):
    """Frozen VGG-16 feature extractor returning named intermediate layers.

    Only the ``features`` layers up to the deepest requested one are kept (the
    classifier is dropped). Parameters never require gradients and the module
    stays in eval mode (``train()`` is a no-op); gradients still flow to the input.

    Args:
        vgg: a loaded :class:`VGG16` (see :func:`load_vgg16`).
        layers: one name (``forward`` returns a tensor) or a sequence of names
            (``forward`` returns ``{name: tensor}``) from :data:`LAYER_NAMES`, e.g.
            ``("pool1", "pool2", "pool3")`` or ``"conv5_3"``.
    """

    def __init__(self, vgg: VGG16, layers: str | Sequence[str] = ("pool1", "pool2", "pool3")):
        super().__init__()
        names = (layers,) if isinstance(layers, str) else tuple(layers)
        if not names:
            raise ValueError("Expected at least one layer name, got none")
        unknown = [n for n in names if n not in LAYER_INDEX]
        if unknown:
            raise ValueError(f"Expected layer names from {', '.join(LAYER_NAMES)}; got {unknown}")
        self.single = isinstance(layers, str)
        self.layers = names
        last = max(LAYER_INDEX[n] for n in names)
        blocks = []
        for module in list(vgg.features.children())[: last + 1]:
            # A conv output must stay intact when a later ReLU runs: no in-place ReLUs here.
            blocks.append(nn.ReLU(inplace=False) if isinstance(module, nn.ReLU) else module)
        self.features = nn.Sequential(*blocks)
        for p in self.features.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "VGG16Features":
        """Always stays in eval mode (frozen feature extractor)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Features of ImageNet-normalised images ``x`` ``(B, 3, H, W)``.

        Returns:
            One ``(B, C, h, w)`` tensor (single layer) or ``{name: (B, C, h, w)}``.
        """
        wanted = {LAYER_INDEX[n]: n for n in self.layers}
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                out[wanted[i]] = x
        return out[self.layers[0]] if self.single else {n: out[n] for n in self.layers}


_MEAN = np.asarray(IMAGENET_MEAN, np.float32).reshape(3, 1, 1)
_STD = np.asarray(IMAGENET_STD, np.float32).reshape(3, 1, 1)


def normalize_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float32 ImageNet-normalised."""
    return (image.transpose(2, 0, 1).astype(np.float32) / 255.0 - _MEAN) / _STD


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised ``(B, 3, H, W)`` -> ``[0, 1]`` (clamped)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * std + mean).clamp(0, 1)


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """Images in ``[0, 1]`` ``(B, 3, H, W)`` -> ImageNet-normalised (torchvision's mean/std)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def expected_shapes(width: float = 1.0) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of :class:`VGG16` (built on the meta device, nothing allocated)."""
    model = VGG16(width, device="meta")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def load_vgg16(
    weights: str | os.PathLike | None = None,
    *,
    allow_random: bool = False,
    progress: bool = True,
    width: float = 1.0,
    url: str = VGG16_URL,
) -> VGG16:
    """VGG-16 with torchvision's ImageNet weights, in eval mode.

    Weights come from, in order: ``weights`` (a file holding the state dict);
    torch.hub's cache ``<torch.hub.get_dir()>/checkpoints/vgg16-397923af.pth``;
    a download through ``torch.hub.load_state_dict_from_url`` (hash checked).
    Every file is read with ``torch.load(weights_only=True)``.

    Args:
        weights: explicit state-dict file (``--vgg-weights``); skips cache and download.
        allow_random: when no weights are given, use a random initialisation
            (smoke tests only) with a warning instead of looking anywhere; it is
            drawn from a fixed seed, so every call gives the same network.
        progress: show the download progress bar.
        width: channel multiplier of the expected network (tests use tiny ones).
        url: download address; its file name is the cache name and carries the hash prefix.

    Raises:
        InputError: offline without weights, or the file is corrupt or not a
            VGG-16 state dict (the message names the file and the expected keys).
    """
    if weights is None and allow_random:
        model = VGG16(width, generator=torch.Generator().manual_seed(RANDOM_SEED))
        warnings.warn(
            "Using a randomly initialised VGG-16 (--allow-random-vgg): perceptual losses and "
            "retrieval descriptors are meaningless; use for smoke tests only.",
            stacklevel=2,
        )
        return model.eval()
    expected = expected_shapes(width)
    state, source = load_hub_state_dict(url, weights, progress=progress, option="--vgg-weights",
                                        random_option="--allow-random-vgg")
    check_state_dict(state, expected, source, "VGG-16")
    model = VGG16(width, device="meta")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()

