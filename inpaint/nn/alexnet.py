"""AlexNet (Krizhevsky et al. 2012, the "one weird trick" variant) with torchvision's module layout.

The module tree matches ``torchvision.models.alexnet()`` index for index
(``features.0`` ... ``features.10``, ``avgpool``, ``classifier.1/4/6``), so
torchvision's published ImageNet checkpoint ``alexnet-owt-7be5be79.pth`` loads
unchanged with ``strict=True``; torchvision itself is never imported. It is the
default LPIPS backbone (:mod:`inpaint.evaluation.lpips`), which reads the five
ReLU outputs of ``features`` (:class:`AlexNetFeatures`).
"""
from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from .hub import check_state_dict, load_hub_state_dict

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
RELU_INDEX = (1, 4, 7, 9, 11)
"""Indices in ``features`` of relu1 ... relu5 (the LPIPS taps)."""


class AlexNet(nn.Module):
    """AlexNet laid out exactly like torchvision's ``alexnet()`` (61.1 M parameters).

    Args:
        num_classes: classifier outputs.
        device, dtype: where to create the parameters (``"meta"`` allocates nothing).
    """

    def __init__(self, num_classes: int = 1000, *, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2, **kw), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2, **kw), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1, **kw), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, **kw), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1, **kw), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Linear(256 * 6 * 6, 4096, **kw), nn.ReLU(inplace=True),
            nn.Dropout(p=0.5), nn.Linear(4096, 4096, **kw), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes, **kw),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, num_classes)`` for ImageNet-normalised images ``(B, 3, H, W)``, H, W >= 63."""
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class AlexNetFeatures(nn.Module):
    """The ``features`` convolutions of an AlexNet, returning relu1 ... relu5 (the classifier is dropped).

    Parameters never require gradients; the module stays in eval mode.
    """

    def __init__(self, alexnet: AlexNet):
        super().__init__()
        # no in-place ReLU: a returned activation must not change when later layers run
        self.features = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.ReLU) else m
                                        for m in list(alexnet.features)[: RELU_INDEX[-1] + 1]])
        for p in self.features.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "AlexNetFeatures":
        """Always stays in eval mode (frozen feature extractor)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU outputs ``[(B, 64, h1, w1), (B, 192, ...), (B, 384, ...), (B, 256, ...), (B, 256, ...)]``."""
        out = []
        for i, module in enumerate(self.features):
            x = module(x)
            if i in RELU_INDEX:
                out.append(x)
        return out


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of :class:`AlexNet` (built on the meta device)."""
    return {k: tuple(v.shape) for k, v in AlexNet(device="meta").state_dict().items()}


def random_alexnet(seed: int = 0) -> AlexNet:
    """A randomly initialised AlexNet, the same for the same ``seed`` (PyTorch's default init, private generator)."""
    gen = torch.Generator().manual_seed(seed)
    model = AlexNet()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = 1.0 / m.weight[0].numel() ** 0.5
                m.weight.uniform_(-bound, bound, generator=gen)
                m.bias.uniform_(-bound, bound, generator=gen)
    return model.eval()


def load_alexnet(
    weights: str | os.PathLike | None = None, *, allow_random: bool = False, progress: bool = True
) -> AlexNet:
    """AlexNet with torchvision's ImageNet weights, in eval mode.

    Weights come from ``weights`` (``--alexnet-weights``), else torch.hub's cache
    ``<torch.hub.get_dir()>/checkpoints/alexnet-owt-7be5be79.pth``, else a
    download (hash checked); always ``torch.load(weights_only=True)``.

    Args:
        weights: explicit state-dict file; skips cache and download.
        allow_random: when no weights are given, use :func:`random_alexnet` with
            a warning instead of looking anywhere (smoke tests only).
        progress: show the download progress bar.

    Raises:
        InputError: offline without weights, or a file that is not this network's state dict.
    """
    if weights is None and allow_random:
        warnings.warn("Using a randomly initialised AlexNet (--allow-random-weights): LPIPS values are "
                      "meaningless; use for smoke tests only.", stacklevel=2)
        return random_alexnet()
    state, source = load_hub_state_dict(ALEXNET_URL, weights, progress=progress, option="--alexnet-weights",
                                        random_option="--allow-random-weights")
    check_state_dict(state, expected_shapes(), source, "AlexNet")
    model = AlexNet(device="meta")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()
