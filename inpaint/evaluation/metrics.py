"""Per-image inpainting metrics and their aggregation (Liu et al. 2018, Table 1).

All metrics compare the composite output with the ground truth over the whole
image (known and hole pixels alike; the known pixels of a composite count with
zero error), at the resolution the evaluation runs at, on ``(H, W, 3)`` uint8
RGB arrays:

- ``l1``: mean absolute error over all pixels and channels as a percentage of
  the value range, ``mean(|a - b|) / 255 * 100``.
- ``psnr``: ``10 * log10(255**2 / mean((a - b)**2))`` in dB; identical images
  give ``inf``. :func:`aggregate` leaves infinite values out of the mean and
  standard deviation and counts them (``n_inf``); it never caps them.
- ``ssim``: scikit-image's ``structural_similarity`` with the parameters of
  Wang et al. 2004: ``channel_axis=-1, data_range=255, gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False`` (``K1=0.01, K2=0.03``, 11x11
  Gaussian window), the mean SSIM over the three channels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

SSIM_PARAMS: dict = {
    "channel_axis": -1,
    "data_range": 255,
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
}
"""Keyword arguments passed to ``skimage.metrics.structural_similarity``."""

METRICS: tuple[str, ...] = ("l1", "psnr", "ssim")


def _check_pair(output: np.ndarray, target: np.ndarray) -> None:
    if output.shape != target.shape or output.ndim != 3 or output.shape[2] != 3:
        raise ValueError(f"Expected two (H, W, 3) images of one shape, got {output.shape} and {target.shape}")
    if output.dtype != np.uint8 or target.dtype != np.uint8:
        raise ValueError(f"Expected uint8 images, got {output.dtype} and {target.dtype}")


def l1_percent(output: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error as a percentage of the value range.

    Args:
        output: ``(H, W, 3)`` uint8.
        target: ``(H, W, 3)`` uint8.

    Returns:
        ``mean(|output - target|) / 255 * 100`` over all pixels and channels.
    """
    _check_pair(output, target)
    return float(cv2.absdiff(output, target).mean()) / 255.0 * 100.0


def psnr(output: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB with data range 255; ``inf`` for identical images.

    Args:
        output: ``(H, W, 3)`` uint8.
        target: ``(H, W, 3)`` uint8.
    """
    _check_pair(output, target)
    diff = cv2.absdiff(output, target).astype(np.float32)
    mse = float(np.mean(diff * diff, dtype=np.float64))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(output: np.ndarray, target: np.ndarray) -> float:
    """SSIM (Wang et al. 2004) through scikit-image with :data:`SSIM_PARAMS`.

    Args:
        output: ``(H, W, 3)`` uint8, at least 7x7.
        target: ``(H, W, 3)`` uint8.
    """
    from skimage.metrics import structural_similarity

    _check_pair(output, target)
    return float(structural_similarity(output, target, **SSIM_PARAMS))


def image_metrics(output: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """``{"l1": ..., "psnr": ..., "ssim": ...}`` for one composite and its ground truth."""
    return {"l1": l1_percent(output, target), "psnr": psnr(output, target), "ssim": ssim(output, target)}


@dataclass(frozen=True)
class Summary:
    """Mean and population standard deviation of the finite values; ``n_inf`` infinite ones left out.

    When every value is infinite, ``mean`` is ``inf`` and ``std`` 0; with no
    value at all both are NaN.
    """

    mean: float
    std: float
    n: int
    n_inf: int


def aggregate(values: Iterable[float]) -> Summary:
    """Summarise one metric over a group of images (see :class:`Summary`)."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size and np.isnan(arr).any():
        raise ValueError("Expected metric values without NaN, got NaN")
    finite = arr[np.isfinite(arr)]
    n_inf = int(arr.size - finite.size)
    if finite.size:
        return Summary(float(finite.mean()), float(finite.std()), int(arr.size), n_inf)
    if n_inf:
        return Summary(math.inf, 0.0, int(arr.size), n_inf)
    return Summary(math.nan, math.nan, 0, 0)
