"""Tests for qdimd.masks.augment: binary and shape-preserving, deterministic, replayable."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qdimd.masks.augment import (
    AugmentConfig,
    AugmentParams,
    CropParams,
    DilateParams,
    FlipParams,
    RotateParams,
    apply_augment,
    apply_crop,
    apply_dilate,
    apply_flip,
    apply_rotate,
    sample_augment_params,
    sample_dilate_params,
)


def _random_hole(seed: int, shape: tuple[int, int], density: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random(shape) < density


def _square_hole(shape=(64, 64), box=(20, 20, 30, 30)) -> np.ndarray:
    hole = np.zeros(shape, bool)
    t, l, b, r = box
    hole[t:b, l:r] = True
    return hole


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    h=st.integers(8, 96),
    w=st.integers(8, 96),
    density=st.floats(0.0, 1.0),
)
@example(seed=0, h=8, w=8, density=1.0)
@example(seed=1, h=17, w=95, density=0.0)
def test_augment_keeps_binary_and_shape(seed, h, w, density):
    hole = _random_hole(seed, (h, w), density)
    config = AugmentConfig(dilate_p=1.0, rotate_p=1.0, crop_p=1.0, hflip_p=0.5, vflip_p=0.5)
    params = sample_augment_params(np.random.default_rng(seed), config, (h, w))
    out = apply_augment(hole, params)
    assert out.shape == (h, w)
    assert out.dtype == np.bool_


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_same_rng_same_params_and_bytes(seed):
    hole = _random_hole(7, (48, 40), 0.05)
    config = AugmentConfig()
    a = sample_augment_params(np.random.default_rng(seed), config, hole.shape)
    b = sample_augment_params(np.random.default_rng(seed), config, hole.shape)
    assert a == b
    assert apply_augment(hole, a).tobytes() == apply_augment(hole, b).tobytes()


def test_params_round_trip_through_json():
    config = AugmentConfig(dilate_p=1, rotate_p=1, crop_p=1, hflip_p=1, vflip_p=1)
    params = sample_augment_params(np.random.default_rng(3), config, (256, 256))
    again = AugmentParams.from_dict(json.loads(json.dumps(params.to_dict())))
    assert again == params
    assert AugmentParams.from_dict(AugmentParams().to_dict()) == AugmentParams()


def test_probabilities_zero_is_identity():
    config = AugmentConfig(dilate_p=0, rotate_p=0, crop_p=0, hflip_p=0, vflip_p=0)
    hole = _random_hole(1, (32, 32))
    for seed in range(10):
        params = sample_augment_params(np.random.default_rng(seed), config, hole.shape)
        assert params == AugmentParams()
        np.testing.assert_array_equal(apply_augment(hole, params), hole)


def test_probabilities_are_respected():
    config = AugmentConfig(dilate_p=0.25, rotate_p=0.5, crop_p=0.75, hflip_p=0.5, vflip_p=0.0)
    draws = [sample_augment_params(np.random.default_rng([5, i]), config, (64, 64)) for i in range(2000)]
    assert abs(np.mean([d.dilate is not None for d in draws]) - 0.25) < 0.04
    assert abs(np.mean([d.rotate is not None for d in draws]) - 0.5) < 0.04
    assert abs(np.mean([d.crop is not None for d in draws]) - 0.75) < 0.04
    assert not any(d.flip is not None and d.flip.vertical for d in draws)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kh=st.integers(0, 7), kw=st.integers(0, 7))
def test_dilation_only_grows(seed, kh, kw):
    hole = _random_hole(seed, (40, 40), 0.03)
    out = apply_dilate(hole, DilateParams((2 * kh + 1, 2 * kw + 1)))
    assert np.all(out[hole])
    assert out.sum() >= hole.sum()


def test_dilation_of_a_point_is_an_ellipse():
    hole = np.zeros((21, 21), bool)
    hole[10, 10] = True
    out = apply_dilate(hole, DilateParams((7, 3)))
    assert out[7:14, 10].all() and not out[6, 10] and not out[14, 10]
    assert out[10, 9:12].all() and not out[10, 8] and not out[10, 12]


def test_dilate_sizes_scale_with_image():
    config = AugmentConfig(dilate_min=5, dilate_max=5)
    assert sample_dilate_params(np.random.default_rng(0), config, (256, 256)).kernel == (5, 5)
    assert sample_dilate_params(np.random.default_rng(0), config, (512, 512)).kernel == (11, 11)  # 10 -> odd


@pytest.mark.parametrize("angle", [0.0, 90.0, 180.0, -90.0, 360.0])
def test_right_angle_rotations_are_exact(angle):
    hole = np.zeros((33, 33), bool)
    hole[2:8, 5:30] = True
    out = apply_rotate(hole, RotateParams(angle))
    expected = np.rot90(hole, k=int(round(angle / 90.0)) % 4)
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=30, deadline=None)
@given(angle=st.floats(-180, 180))
def test_rotation_roughly_keeps_area_of_central_blob(angle):
    hole = np.zeros((101, 101), bool)
    hole[40:61, 30:71] = True
    out = apply_rotate(hole, RotateParams(angle))
    assert abs(int(out.sum()) - int(hole.sum())) <= 0.1 * hole.sum()


def test_crop_full_box_is_identity_and_half_box_doubles():
    hole = _square_hole()
    np.testing.assert_array_equal(apply_crop(hole, CropParams((0.0, 0.0, 64.0, 64.0))), hole)
    zoomed = apply_crop(hole, CropParams((16.0, 16.0, 32.0, 32.0)))
    # the square 20..30 inside the box 16..48 maps to 8..28 at twice the scale
    np.testing.assert_array_equal(np.argwhere(zoomed.any(1))[[0, -1], 0], [8, 27])
    assert zoomed.sum() == 4 * hole.sum()


def test_translation_out_of_image_is_valid():
    hole = np.ones((20, 20), bool)
    out = apply_crop(hole, CropParams((-5.0, 0.0, 20.0, 20.0)))
    assert not out[:5].any() and out[5:].all()


def test_flips():
    hole = _square_hole(box=(0, 0, 10, 5))
    both = apply_flip(hole, FlipParams(True, True))
    np.testing.assert_array_equal(both, hole[::-1, ::-1])
    np.testing.assert_array_equal(apply_flip(hole, FlipParams(True, False)), hole[:, ::-1])
    np.testing.assert_array_equal(apply_flip(hole, FlipParams(False, False)), hole)


def test_accepts_uint8_masks_like_nvidia_files():
    gray = np.zeros((64, 64), np.uint8)
    gray[10:20, 10:20] = 255
    params = AugmentParams(dilate=DilateParams((3, 3)))
    out = apply_augment(gray, params)
    assert out.dtype == np.bool_
    assert out.sum() == 12 * 12 - 4  # the 3x3 ellipse is a cross: the 10x10 square grows by 1 px, corners cut


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(dilate_p=1.5), dict(dilate_min=5, dilate_max=3), dict(crop_min=0.0), dict(rotate_max=200.0),
        dict(translate_max=-0.1),
    ],
)
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError, match="Expected"):
        AugmentConfig(**kwargs)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="Expected an \\(H, W\\)"):
        apply_augment(np.zeros((2, 3, 4), bool), AugmentParams())
    with pytest.raises(ValueError, match="Expected shape"):
        sample_augment_params(np.random.default_rng(0), AugmentConfig(), (0, 5))
