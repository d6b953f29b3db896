"""Inception-v3 (Szegedy et al. 2016) with torchvision's module layout, and the Inception score.

The module tree matches ``torchvision.models.inception_v3(aux_logits=True)``
name for name (``Conv2d_1a_3x3.conv.weight`` ... ``AuxLogits.fc.weight``,
``fc.weight``), so torchvision's published ``inception_v3_google-0cc3c7bd.pth``
(Google's TensorFlow weights ported to PyTorch) loads unchanged with
``strict=True``; torchvision is never imported. As in torchvision for those
weights, ``transform_input=True`` maps ImageNet-normalised inputs to the
``[-1, 1]`` scaling the TensorFlow weights were trained with.

Deviations: ``forward`` returns only the main logits (the auxiliary head is
kept for the state dict, never run); a ``width`` multiplier scales every
channel count for tiny test models (``width=1`` is the real network).
``tf_pooling`` and ``aux_logits=False`` give the layout of the TensorFlow
2015-12-05 graph that FID uses (:mod:`inpaint.nn.fid_inception`).

Inception score (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` per
split, mean and standard deviation over the splits. Inputs are resized to
299x299 with bilinear interpolation (``align_corners=False``, no antialias).
Scores use torchvision's 1000-class network, not the 1008-class TensorFlow
graph of the original code, so they are close to but not identical with
published TensorFlow figures.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .hub import check_state_dict, load_hub_state_dict
from .vgg import IMAGENET_MEAN, IMAGENET_STD, imagenet_normalize

INCEPTION_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"
INPUT_SIZE = 299


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    """torchvision's branch pool: padded zeros count in the average."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow's branch pool: the average over the window's pixels inside the image."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    """The 2015-12-05 graph's last block (``Mixed_7c``) max-pools its pool branch."""
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kw: dict, **conv):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, bias=False, **conv, **kw)
        self.bn = nn.BatchNorm2d(out_ch, eps=0.001, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionA(nn.Module):
    def __init__(self, in_ch: int, pool_features: int, s, kw: dict, pool=_avg_pool):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_ch, s(64), kw, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_ch, s(48), kw, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(s(48), s(64), kw, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, s(64), kw, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(s(64), s(96), kw, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(s(96), s(96), kw, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_ch, s(pool_features), kw, kernel_size=1)
        self.out_channels = s(64) + s(64) + s(96) + s(pool_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(self.pool(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, in_ch: int, s, kw: dict):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_ch, s(384), kw, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, s(64), kw, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(s(64), s(96), kw, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(s(96), s(96), kw, kernel_size=3, stride=2)
        self.out_channels = s(384) + s(96) + in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, in_ch: int, channels_7x7: int, s, kw: dict, pool=_avg_pool):
        super().__init__()
        self.pool = pool
        c7 = s(channels_7x7)
        self.branch1x1 = BasicConv2d(in_ch, s(192), kw, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_ch, c7, kw, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kw, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, s(192), kw, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_ch, c7, kw, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kw, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kw, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kw, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, s(192), kw, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_ch, s(192), kw, kernel_size=1)
        self.out_channels = 4 * s(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(self.pool(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, in_ch: int, s, kw: dict):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_ch, s(192), kw, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(s(192), s(320), kw, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_ch, s(192), kw, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(s(192), s(192), kw, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(s(192), s(192), kw, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(s(192), s(192), kw, kernel_size=3, stride=2)
        self.out_channels = s(320) + s(192) + in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    def __init__(self, in_ch: int, s, kw: dict, pool=_avg_pool):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_ch, s(320), kw, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_ch, s(384), kw, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(s(384), s(384), kw, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(s(384), s(384), kw, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_ch, s(448), kw, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(s(448), s(384), kw, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(s(384), s(384), kw, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(s(384), s(384), kw, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_ch, s(192), kw, kernel_size=1)
        self.out_channels = s(320) + 4 * s(384) + s(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(self.pool(x))
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionAux(nn.Module):
    """The auxiliary classifier: present so the checkpoint loads strictly; never run here."""

    def __init__(self, in_ch: int, num_classes: int, s, kw: dict):
        super().__init__()
        self.conv0 = BasicConv2d(in_ch, s(128), kw, kernel_size=1)
        self.conv1 = BasicConv2d(s(128), s(768), kw, kernel_size=5)
        self.fc = nn.Linear(s(768), num_classes, **kw)


class Inception3(nn.Module):
    """Inception-v3 laid out exactly like torchvision's ``Inception3`` (``aux_logits=True`` by default).

    Args:
        num_classes: classifier outputs.
        transform_input: map ImageNet-normalised inputs to the ``[-1, 1]``
            scaling of the TensorFlow weights (True for the published weights).
        width: channel multiplier (1 = the real network, 27,161,264 parameters).
        aux_logits: build the auxiliary head (torchvision's ``AuxLogits``; never run).
        tf_pooling: the pooling of the TensorFlow 2015-12-05 graph: branch
            average pools exclude padding and ``Mixed_7c`` max-pools.
        device, dtype: where to create the parameters (``"meta"`` allocates nothing).
    """

    def __init__(self, num_classes: int = 1000, transform_input: bool = True, width: float = 1.0, *,
                 aux_logits: bool = True, tf_pooling: bool = False, device=None, dtype=None):
        super().__init__()
        if not width > 0:
            raise ValueError(f"Expected width > 0, got {width}")
        kw = {"device": device, "dtype": dtype}

        def s(c: int) -> int:
            return max(1, int(round(c * width)))

        self.transform_input = transform_input
        self.width = width
        self.Conv2d_1a_3x3 = BasicConv2d(3, s(32), kw, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(s(32), s(32), kw, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(s(32), s(64), kw, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(s(64), s(80), kw, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(s(80), s(192), kw, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        pool = _tf_avg_pool if tf_pooling else _avg_pool
        self.Mixed_5b = InceptionA(s(192), 32, s, kw, pool)
        self.Mixed_5c = InceptionA(self.Mixed_5b.out_channels, 64, s, kw, pool)
        self.Mixed_5d = InceptionA(self.Mixed_5c.out_channels, 64, s, kw, pool)
        self.Mixed_6a = InceptionB(self.Mixed_5d.out_channels, s, kw)
        c = self.Mixed_6a.out_channels
        self.Mixed_6b = InceptionC(c, 128, s, kw, pool)
        self.Mixed_6c = InceptionC(c, 160, s, kw, pool)
        self.Mixed_6d = InceptionC(c, 160, s, kw, pool)
        self.Mixed_6e = InceptionC(c, 192, s, kw, pool)
        self.AuxLogits = InceptionAux(c, num_classes, s, kw) if aux_logits else None
        self.Mixed_7a = InceptionD(c, s, kw)
        self.Mixed_7b = InceptionE(self.Mixed_7a.out_channels, s, kw, pool)
        self.Mixed_7c = InceptionE(self.Mixed_7b.out_channels, s, kw, _max_pool if tf_pooling else pool)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.5)
        self.fc = nn.Linear(self.Mixed_7c.out_channels, num_classes, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, num_classes)`` for ImageNet-normalised images ``(B, 3, H, W)``, H, W >= 75."""
        return self.fc(self.dropout(self.features(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pool3 activations ``(B, 2048)`` (before dropout and ``fc``) of images ``(B, 3, H, W)``."""
        if self.transform_input:
            scale = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) / 0.5
            shift = (torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) - 0.5) / 0.5
            x = x * scale + shift
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x)))
        x = self.maxpool2(x)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(self.avgpool(x), 1)


def expected_shapes(width: float = 1.0) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of :class:`Inception3` (built on the meta device)."""
    return {k: tuple(v.shape) for k, v in Inception3(width=width, device="meta").state_dict().items()}


def random_inception(width: float = 1.0, seed: int = 0) -> Inception3:
    """A randomly initialised network, the same for the same ``seed`` (so resumed runs agree).

    Conv and linear weights ~ truncated N(0, 0.1^2) on [-0.2, 0.2] (torchvision's
    scheme), biases 0, BatchNorm identity; drawn from a private generator.
    """
    return init_random_(Inception3(width=width), seed)


def init_random_(model: nn.Module, seed: int) -> nn.Module:
    """Fill ``model`` in place with :func:`random_inception`'s scheme from ``seed``; returns it in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.1, a=-0.2, b=0.2, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
    return model.eval()


def load_inception(
    weights: str | os.PathLike | None = None, *, allow_random: bool = False, progress: bool = True, width: float = 1.0
) -> Inception3:
    """Inception-v3 with torchvision's ImageNet weights, in eval mode, ``transform_input=True``.

    Weights come from ``weights`` (``--inception-weights``), else torch.hub's
    cache ``<torch.hub.get_dir()>/checkpoints/inception_v3_google-0cc3c7bd.pth``,
    else a download (hash checked); always ``torch.load(weights_only=True)``
    (see :mod:`inpaint.nn.hub`).

    Args:
        weights: explicit state-dict file; skips cache and download.
        allow_random: when no weights are given, use :func:`random_inception`
            with a warning instead of looking anywhere (tests and smoke runs only).
        progress: show the download progress bar.
        width: channel multiplier of the expected network (tests use tiny ones).

    Raises:
        InputError: offline without weights, or a file that is not this network's state dict.
    """
    if weights is None and allow_random:
        warnings.warn(
            "Using a randomly initialised Inception-v3 (--allow-random-inception): Inception scores "
            "are meaningless; use for smoke tests only.",
            stacklevel=2,
        )
        return random_inception(width)
    state, source = load_hub_state_dict(INCEPTION_URL, weights, progress=progress, option="--inception-weights",
                                        random_option="--allow-random-inception (or --allow-random-weights)")
    expected = expected_shapes(width)
    state = add_batch_counters(state, expected)
    check_state_dict(state, expected, source, "Inception-v3")
    model = Inception3(width=width, device="meta")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def add_batch_counters(state: dict, expected: dict) -> dict:
    """``state`` with the BatchNorm step counters it lacks (checkpoints older than PyTorch 0.4.1 carry none)."""
    state = dict(state)
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.tensor(0, dtype=torch.long)
    return state


def check_images(images: np.ndarray) -> np.ndarray:
    """``images`` as an array, or ValueError unless it is ``(N, H, W, 3)`` uint8."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"Expected (N, H, W, 3) uint8 images, got {images.shape} {images.dtype}")
    return images


def resize_for_inception(images: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB -> ``(N, 3, 299, 299)`` float32 in ``[0, 1]`` (bilinear, ``align_corners=False``, no antialias)."""
    x = torch.from_numpy(np.ascontiguousarray(check_images(images))).to(device).permute(0, 3, 1, 2).float() / 255.0
    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)


@torch.no_grad()
def inception_probs(model: Inception3, images: np.ndarray, *, batch_size: int = 16, device: str = "cpu") -> np.ndarray:
    """Class probabilities ``p(y|x)`` of images.

    Args:
        model: a network from :func:`load_inception` (or any module mapping
            ImageNet-normalised ``(B, 3, 299, 299)`` to logits).
        images: ``(N, H, W, 3)`` uint8 RGB; resized to 299x299 (bilinear).
        batch_size: images per forward pass.

    Returns:
        ``(N, num_classes)`` float64 softmax probabilities.
    """
    images = check_images(images)
    model = model.to(device).eval()
    out = []
    for start in range(0, len(images), batch_size):
        logits = model(imagenet_normalize(resize_for_inception(images[start:start + batch_size], device)))
        out.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.fc.out_features))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception score ``exp(E_x KL(p(y|x) || p(y)))`` (Salimans et al. 2016).

    The rows are cut into ``min(splits, N)`` consecutive parts
    (``np.array_split``); ``p(y)`` is each part's mean prediction.

    Args:
        probs: ``(N, C)`` probabilities, rows summing to 1.
        splits: number of parts.

    Returns:
        ``(mean, std)`` over the parts (population standard deviation, as the original code).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"Expected (N, C) probabilities with N >= 1, got shape {probs.shape}")
    if splits < 1:
        raise ValueError(f"Expected splits >= 1, got {splits}")
    scores = []
    for part in np.array_split(probs, min(splits, len(probs))):
        marginal = part.mean(axis=0, keepdims=True)
        # 0 * log 0 = 0: where p(y|x) is 0 the term vanishes.
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
