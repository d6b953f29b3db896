"""The FID Inception: Google's 2015-12-05 Inception-v3 graph, as ported by pytorch-fid, and its pool3 features.

Fréchet Inception Distance (Heusel et al. 2017) is defined on the 2048-d
pool3 activations of the TensorFlow graph ``inception-2015-12-05.tgz``. That
network is an Inception-v3 with 1008 classes and two quirks that torchvision's
differs in: its average pools ignore the padded zeros
(``count_include_pad=False``) and the last block (``Mixed_7c``) max-pools
its pool branch. :func:`create_fid_inception` builds exactly that from
:class:`inpaint.nn.inception.Inception3` (``tf_pooling=True``, no auxiliary
head), with the module names of torchvision's ``Inception3``, so pytorch-fid's
published ``pt_inception-2015-12-05-6726825d.pth`` loads unchanged with
``strict=True`` (it is what ``pytorch_fid.inception.fid_inception_v3`` loads).

Input conventions (those of pytorch-fid on image files): uint8 RGB images are
divided by 255, resized to 299x299 with bilinear interpolation
(``align_corners=False``, no antialiasing) in float32, and mapped to
``[-1, 1]`` by ``2x - 1``. clean-fid instead resizes with PIL bicubic
antialiasing and the TensorFlow code with TF's resize; FIDs differ across the
three by a few tenths to a few units, so compare only numbers computed the same way.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from .hub import check_state_dict, load_hub_state_dict
from .inception import Inception3, add_batch_counters, check_images, init_random_, resize_for_inception

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FID_CLASSES = 1008
FEATURE_DIM = 2048


def create_fid_inception(width: float = 1.0, *, device=None, dtype=None) -> Inception3:
    """The FID network's layout: 1008 classes, TensorFlow pooling, no auxiliary head, inputs in ``[-1, 1]``.

    Args:
        width: channel multiplier (1 = the real network, 2048-d features; tests use tiny ones).
        device, dtype: where to create the parameters (``"meta"`` allocates nothing).
    """
    return Inception3(num_classes=FID_CLASSES, transform_input=False, width=width, aux_logits=False,
                      tf_pooling=True, device=device, dtype=dtype)


def expected_shapes(width: float = 1.0) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of the FID network (built on the meta device)."""
    return {k: tuple(v.shape) for k, v in create_fid_inception(width, device="meta").state_dict().items()}


def load_fid_inception(
    weights: str | os.PathLike | None = None, *, allow_random: bool = False, progress: bool = True, width: float = 1.0
) -> Inception3:
    """The FID Inception with pytorch-fid's weights, in eval mode.

    Weights come from ``weights`` (``--fid-weights``), else torch.hub's cache
    ``<torch.hub.get_dir()>/checkpoints/pt_inception-2015-12-05-6726825d.pth``,
    else a download of :data:`FID_WEIGHTS_URL` (hash checked); always
    ``torch.load(weights_only=True)`` (see :mod:`inpaint.nn.hub`).

    Args:
        weights: explicit state-dict file; skips cache and download.
        allow_random: when no weights are given, use fixed random weights with a
            warning instead of looking anywhere (smoke tests only: FIDs are meaningless).
        progress: show the download progress bar.
        width: channel multiplier of the expected network.

    Raises:
        InputError: offline without weights, or a file that is not this network's state dict.
    """
    if weights is None and allow_random:
        warnings.warn("Using a randomly initialised FID Inception (--allow-random-weights): FID and "
                      "P-IDS/U-IDS are meaningless; use for smoke tests only.", stacklevel=2)
        return init_random_(create_fid_inception(width), seed=1)
    state, source = load_hub_state_dict(FID_WEIGHTS_URL, weights, progress=progress, option="--fid-weights",
                                        random_option="--allow-random-weights")
    expected = expected_shapes(width)
    state = add_batch_counters(state, expected)
    check_state_dict(state, expected, source, "FID Inception-v3 (pytorch-fid)")
    model = create_fid_inception(width, device="meta")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


@torch.no_grad()
def fid_features(model: Inception3, images: np.ndarray, *, batch_size: int = 32, device: str = "cpu") -> np.ndarray:
    """pool3 activations of images, with pytorch-fid's input conventions (see the module docstring).

    Args:
        model: a network from :func:`load_fid_inception`.
        images: ``(N, H, W, 3)`` uint8 RGB, any size (H, W >= 16).
        batch_size: images per forward pass.
        device: where to run the network.

    Returns:
        ``(N, 2048)`` float32 (``(N, 2048 * width)`` for test networks).
    """
    images = check_images(images)
    model = model.to(device).eval()
    out = [model.features(2.0 * resize_for_inception(images[i:i + batch_size], device) - 1.0).float().cpu().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.fc.in_features), np.float32)
