"""FID from features against the textbook formula with scipy.linalg.sqrtm (pytorch-fid's calculate_frechet_distance)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from inpaint.evaluation.fid import fid_from_features, trace_sqrt_product


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))`` as pytorch-fid computes it."""
    mu1, mu2 = real.mean(axis=0), fake.mean(axis=0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(root).all():
        off = 1e-6 * np.eye(len(s1))
        root = linalg.sqrtm((s1 + off) @ (s2 + off))
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root.real))


@pytest.mark.parametrize("n_real, n_fake, dim", [(400, 300, 8), (12, 9, 64), (30, 30, 256)])
def test_fid_equals_scipy_sqrtm_formula(n_real, n_fake, dim):
    rng = np.random.default_rng(dim)
    real = rng.normal(size=(n_real, dim))
    fake = rng.normal(0.2, 1.3, size=(n_fake, dim)) + 0.5 * real[:1]
    assert fid_from_features(real, fake) == pytest.approx(scipy_fid(real, fake), rel=1e-6)


def test_hand_computable_cases():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6))
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-9)
    # a shift by c in every dimension: identical covariances, FID = |c|^2 * D
    assert fid_from_features(x, x + 2.0) == pytest.approx(4.0 * 6, rel=1e-9)
    # a scale by s: Tr(S) + s^2 Tr(S) - 2 s Tr(S) = (1 - s)^2 Tr(S), means stay 0 after centring
    xc = x - x.mean(axis=0)
    assert fid_from_features(xc, 3.0 * xc) == pytest.approx(4.0 * np.trace(np.cov(xc, rowvar=False)), rel=1e-9)
    assert trace_sqrt_product(xc, 3.0 * xc) == pytest.approx(3.0 * np.trace(np.cov(xc, rowvar=False)), rel=1e-9)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="Expected two"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
