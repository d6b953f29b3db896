"""Fréchet Inception Distance (Heusel et al. 2017) from pool3 features.

``FID = |mu_r - mu_f|^2 + Tr(S_r) + Tr(S_f) - 2 Tr((S_r S_f)^(1/2))`` with the
means and unbiased covariances (``np.cov``, ``N - 1``) of the real and fake
features, as pytorch-fid's ``calculate_frechet_distance``. The trace of the
matrix square root is computed exactly without it where possible: the
eigenvalues of ``S_r S_f`` are the squared singular values of
``A B^T`` with ``A = (X_r - mu_r) / sqrt(N_r - 1)`` and likewise ``B``, so
``Tr((S_r S_f)^(1/2))`` is the sum of those singular values, an
``N_r x N_f`` problem instead of a 2048 x 2048 ``scipy.linalg.sqrtm`` (and free
of its failures on the singular covariances of small sets). With more images
than feature dimensions, ``sqrtm`` is used as pytorch-fid does.

Few images make FID meaningless rather than merely noisy: below 2048 images
the covariances are rank-deficient and the estimate is biased upward
(Chong & Forsyth 2020); published figures use 2,000 to 30,000 images.
:data:`FID_MIN_IMAGES` is where ``inpaint eval`` warns.
"""
from __future__ import annotations

import numpy as np

FID_MIN_IMAGES = 2048
"""Below this many images per set, FID (and P-IDS/U-IDS) of a cell is flagged as unreliable."""


def _check_features(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"Expected two (N, D) feature arrays of one D, got {real.shape} and {fake.shape}")
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"Expected at least 2 feature rows per set, got {len(real)} and {len(fake)}")
    return real, fake


def trace_sqrt_product(real: np.ndarray, fake: np.ndarray) -> float:
    """``Tr((S_r S_f)^(1/2))`` of the covariances of two feature sets (see the module docstring)."""
    real, fake = _check_features(real, fake)
    a = (real - real.mean(axis=0)) / np.sqrt(len(real) - 1)
    b = (fake - fake.mean(axis=0)) / np.sqrt(len(fake) - 1)
    if min(len(a), len(b)) <= a.shape[1]:
        return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    from scipy import linalg

    product = (a.T @ a) @ (b.T @ b)
    root = linalg.sqrtm(product)
    if not np.isfinite(root).all():  # pytorch-fid's fallback: nudge the diagonal
        eps = 1e-6 * np.eye(len(product))
        root = linalg.sqrtm((a.T @ a + eps) @ (b.T @ b + eps))
    return float(np.trace(root.real))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID of two feature sets.

    Args:
        real: ``(N_r, D)`` features of the ground truths.
        fake: ``(N_f, D)`` features of the outputs; ``N_r, N_f >= 2``.

    Returns:
        The distance (>= 0 up to rounding).
    """
    real, fake = _check_features(real, fake)
    diff = real.mean(axis=0) - fake.mean(axis=0)
    trace_r = float(np.sum(np.var(real, axis=0, ddof=1)))
    trace_f = float(np.sum(np.var(fake, axis=0, ddof=1)))
    return float(diff @ diff + trace_r + trace_f - 2.0 * trace_sqrt_product(real, fake))
