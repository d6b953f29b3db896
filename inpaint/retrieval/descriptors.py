"""Global image descriptors from VGG-16's last convolutional block, for retrieval.

Sim-K (Iskakov 2018, "Semi-parametric Image Inpainting") retrieves database
images by VGG-16 features of the last convolutional layer. Two variants:

- ``pooled`` (default): conv5_3 after its ReLU, averaged over space -> 512-d.
  Works at any input size (``size``, default 256).
- ``flat``: the pool5 map at 224x224 flattened -> 512*7*7 = 25,088-d, closest
  to the paper.

Descriptors are L2-normalised so that a dot product is the cosine similarity;
an optional PCA (fitted on the database, stored with it) reduces them to D
dimensions and they are re-normalised after projection.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from qdimd.io import atomic_open

from ..images import cover_resize
from ..nn.vgg import VGG16, VGG16Features, imagenet_normalize

DESCRIPTOR_KINDS = ("pooled", "flat")
FLAT_SIZE = 224


@dataclass(frozen=True)
class DescriptorConfig:
    """How descriptors are made; saved with every database.

    Attributes:
        kind: ``"pooled"`` (512-d) or ``"flat"`` (25,088-d at 224 px).
        size: side of the square the images are resized and centre-cropped to
            (``flat`` requires 224).
        pca_dim: project to this many dimensions with a PCA fitted on the database.
    """

    kind: str = "pooled"
    size: int = 256
    pca_dim: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in DESCRIPTOR_KINDS:
            raise ValueError(f"Expected descriptor kind in {DESCRIPTOR_KINDS}, got {self.kind!r}")
        if self.kind == "flat" and self.size != FLAT_SIZE:
            raise ValueError(f"Expected size {FLAT_SIZE} for the flat descriptor (pool5 is 7x7 there), got {self.size}")
        if self.size < 32:
            raise ValueError(f"Expected size >= 32 (VGG-16 pools 5 times), got {self.size}")
        if self.pca_dim is not None and self.pca_dim < 1:
            raise ValueError(f"Expected pca_dim >= 1 or None, got {self.pca_dim}")

    @property
    def layer(self) -> str:
        return "relu5_3" if self.kind == "pooled" else "pool5"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DescriptorConfig":
        return cls(**{k: data[k] for k in ("kind", "size", "pca_dim") if k in data})


def create_descriptor_features(vgg: VGG16, config: DescriptorConfig) -> VGG16Features:
    """The frozen VGG-16 trunk that a descriptor of ``config`` needs."""
    return VGG16Features(vgg, config.layer)


def prepare_images(images: Sequence[np.ndarray] | np.ndarray, size: int) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` images (any sizes) -> ImageNet-normalised ``(B, 3, size, size)`` float32.

    Images of another size are scaled to cover ``size`` and centre-cropped.
    """
    batch = []
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"Expected (H, W, 3) uint8 images, got {image.shape} {image.dtype}")
        if image.shape[:2] != (size, size):
            image = np.asarray(cover_resize(Image.fromarray(image), (size, size)))
        batch.append(image)
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div_(255.0)
    return imagenet_normalize(x)


@torch.no_grad()
def describe_images(
    features: VGG16Features,
    images: Sequence[np.ndarray] | np.ndarray,
    config: DescriptorConfig,
    *,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """L2-normalised raw descriptors (before any PCA) of one batch.

    Args:
        features: from :func:`create_descriptor_features` (already on ``device``).
        images: ``B`` uint8 ``(H, W, 3)`` images.
        config: descriptor settings.

    Returns:
        ``(B, 512)`` (pooled) or ``(B, 25088)`` (flat) float32, unit rows.
    """
    x = prepare_images(images, config.size).to(device)
    fmap = features(x)
    vec = fmap.mean(dim=(2, 3)) if config.kind == "pooled" else fmap.flatten(1)
    vec = torch.nn.functional.normalize(vec.float(), dim=1)
    return vec.cpu().numpy()


@dataclass(frozen=True)
class Pca:
    """A PCA projection: ``y = (x - mean) @ components.T``, then L2-normalised.

    Attributes:
        mean: ``(D,)`` float32.
        components: ``(d, D)`` float32, orthonormal rows.
    """

    mean: np.ndarray
    components: np.ndarray

    def save(self, path) -> None:
        """Write ``mean`` and ``components`` to an ``.npz`` file atomically."""
        with atomic_open(path) as f:
            np.savez(f, mean=self.mean, components=self.components)

    @classmethod
    def load(cls, path) -> "Pca":
        with np.load(path) as data:
            return cls(mean=data["mean"].astype(np.float32), components=data["components"].astype(np.float32))


def fit_pca(x: np.ndarray, dim: int) -> Pca:
    """Principal axes of ``x`` ``(N, D)`` by an SVD of the centred data.

    Raises:
        ValueError: ``dim`` exceeds ``min(N, D)``.
    """
    n, d = x.shape
    if not 1 <= dim <= min(n, d):
        raise ValueError(f"Expected PCA dimension in 1..{min(n, d)} (min of {n} images and {d} features), got {dim}")
    x = np.asarray(x, dtype=np.float32)
    mean = x.mean(axis=0)
    _, _, vt = torch.linalg.svd(torch.from_numpy(x - mean), full_matrices=False)
    return Pca(mean=mean.astype(np.float32), components=vt[:dim].numpy().astype(np.float32))


def apply_pca(pca: Pca, x: np.ndarray) -> np.ndarray:
    """Project ``(N, D)`` descriptors to ``(N, d)`` and re-normalise the rows."""
    y = (np.asarray(x, dtype=np.float32) - pca.mean) @ pca.components.T
    norm = np.linalg.norm(y, axis=1, keepdims=True)
    return (y / np.maximum(norm, 1e-12)).astype(np.float32)
