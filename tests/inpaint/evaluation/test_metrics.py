"""Per-image metrics against hand-computable cases, and their aggregation."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaint.evaluation.metrics import SSIM_PARAMS, aggregate, image_metrics, l1_percent, psnr, ssim


@pytest.fixture(scope="module")
def photo(photo_dir) -> np.ndarray:
    return np.asarray(Image.open(sorted(photo_dir.iterdir())[0]).convert("RGB"))


def test_identical_images(photo):
    m = image_metrics(photo, photo.copy())
    assert m["l1"] == 0.0
    assert m["ssim"] == pytest.approx(1.0)
    assert m["psnr"] == math.inf


@pytest.mark.parametrize("shift", [1, 10, 50])
def test_constant_shift(shift):
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a + np.uint8(shift)
    assert l1_percent(a, b) == pytest.approx(shift / 255 * 100)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / shift))  # MSE = shift^2
    assert psnr(b, a) == psnr(a, b)


def test_shift_on_real_photo(photo):
    """|a - b| = 10 everywhere on a real photo (no clipping): PSNR 20 log10(25.5) = 28.13 dB."""
    a = np.clip(photo, 0, 245)
    b = a + np.uint8(10)
    assert psnr(a, b) == pytest.approx(28.130803608679106)
    assert l1_percent(a, b) == pytest.approx(100 * 10 / 255)


def test_extremes():
    black, white = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8)
    assert l1_percent(black, white) == pytest.approx(100.0)
    assert psnr(black, white) == pytest.approx(0.0)


def test_ssim_parameters_are_wang_et_al(photo):
    from skimage.metrics import structural_similarity

    noisy = np.clip(photo.astype(int) + np.random.default_rng(0).integers(-20, 21, photo.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(photo, noisy, channel_axis=-1, data_range=255, gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False)
    assert ssim(photo, noisy) == pytest.approx(expected)
    assert 0.0 < ssim(photo, noisy) < 1.0
    assert SSIM_PARAMS["gaussian_weights"] and SSIM_PARAMS["sigma"] == 1.5


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
@example(0)
def test_metric_properties(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert 0.0 <= l1_percent(a, b) <= 100.0
    assert l1_percent(a, b) == pytest.approx(np.abs(a.astype(int) - b.astype(int)).mean() / 2.55)
    mse = ((a.astype(float) - b) ** 2).mean()
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse)) if mse else psnr(a, b) == math.inf
    assert ssim(a, b) <= 1.0


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), np.zeros((9, 8, 3), np.uint8)])
def test_bad_inputs(bad):
    with pytest.raises(ValueError, match="Expected"):
        l1_percent(bad, np.zeros((8, 8, 3), np.uint8))


def test_aggregate_leaves_infinite_psnr_out():
    s = aggregate([20.0, 30.0, math.inf])
    assert (s.mean, s.std, s.n, s.n_inf) == (25.0, 5.0, 3, 1)
    s = aggregate([math.inf, math.inf])
    assert s.mean == math.inf and s.std == 0.0 and s.n_inf == 2
    assert math.isnan(aggregate([]).mean)
    with pytest.raises(ValueError, match="NaN"):
        aggregate([1.0, math.nan])
