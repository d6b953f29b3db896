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


# ---------------------------------------------------------------- smooth edges, no empty masks (issue 12)
def _disc(shape: tuple[int, int], cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _augmentations(size: int):
    for angle in np.linspace(-180, 180, 13):
        for frac in (None, 0.6, 0.75, 0.9):
            crop = None if frac is None else CropParams((10.3, 40.7, frac * size, frac * size))
            yield AugmentParams(rotate=RotateParams(float(angle)), crop=crop)


def test_a_rendered_disc_stays_a_disc_after_any_rotation_and_zoom():
    # version 2 masks: the rotation and crop move the strokes before rendering
    from qdimd.masks.augment import stroke_affine
    from qdimd.masks.generator import MaskConfig, MaskParams, render_mask
    from qdimd.masks.render import cairo_available
    from qdimd.strokes.store import StrokeStore

    if not cairo_available():  # OpenCV rounds widths to whole px: its discs are coarser to begin with
        pytest.skip("libcairo not available")
    size, r = 256, 20.0
    store = StrokeStore(points=np.array([[100, 140]], np.uint8), stroke_starts=np.array([0, 1]),
                        drawing_starts=np.array([0, 1]), drawing_category=np.zeros(1, np.int16),
                        key_ids=np.zeros(1, np.uint64), recognized=np.ones(1, bool), categories=("cat",))
    worst = 1.0
    for aug in _augmentations(size):
        params = MaskParams(index=0, seed=0, drawings=(0,), strokes=(0,), widths=(2 * r,), upscale=1.0, augment=aug)
        hole = render_mask(params, MaskConfig(size=(size, size), renderer="cairo"), store)  # a dot: a disc at the centre
        matrix, scale = stroke_affine(aug, (size, size))
        cx, cy = matrix[:, :2] @ np.array([128.0, 128.0]) + matrix[:, 2]
        worst = min(worst, _iou(hole, _disc((size, size), cx, cy, r * scale)))
    assert worst >= 0.98  # measured 0.994 (cairo); rendered, then resampled nearest-neighbour as before: 0.966


def test_raster_rotation_and_zoom_resample_smoothly():
    size, r, cx, cy = 256, 20.0, 100.3, 140.7
    disc = _disc((size, size), cx, cy, r)
    worst = 1.0
    for aug in _augmentations(size):
        out = apply_augment(disc, aug)
        nearest = apply_augment(disc, aug, smooth=False)
        matrix = np.eye(3)
        if aug.rotate is not None:  # where the centre goes: rotation about ((W - 1) / 2, (H - 1) / 2) in index coordinates
            import cv2

            matrix = np.vstack([cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), aug.rotate.angle, 1.0), [0, 0, 1]])
        scale = 1.0
        if aug.crop is not None:
            top, left, ch, cw = aug.crop.box
            scale = size / cw
            matrix = np.array([[scale, 0, scale * (0.5 - left) - 0.5], [0, scale, scale * (0.5 - top) - 0.5], [0, 0, 1]]) @ matrix
        centre = matrix[:2, :2] @ np.array([cx - 0.5, cy - 0.5]) + matrix[:2, 2] + 0.5
        ideal = _disc((size, size), centre[0], centre[1], r * scale)
        assert _iou(out, ideal) >= _iou(nearest, ideal) - 0.002
        worst = min(worst, _iou(out, ideal))
    assert worst >= 0.97  # measured 0.976 (bilinear, thresholded); nearest-neighbour (smooth=False): 0.957


def test_no_empty_masks_after_augmentation():
    # issue 12: 34 of these 2,000 were empty when the emptiness check ran before augmentation
    from qdimd.masks.generator import MaskConfig, MaskGenerator

    holes = MaskGenerator(MaskConfig(size=(256, 256), augment=AugmentConfig()), seed=0).batch(0, 2000)
    assert holes.reshape(2000, -1).any(axis=1).all()
