"""The kinds' own protocols: LaMa's selection and presets, MAT's hole range, brush and box geometry."""
from __future__ import annotations

import numpy as np
import pytest

from qdimd.kinds import (BoxOptions, LamaOptions, MatOptions, render_box, render_lama, render_mat, sample_box_params,
                         sample_deepfill_params, sample_lama_params, sample_mat_params)
from qdimd.kinds.brush import flip_strokes
from qdimd.kinds.lama import lama_preset


@pytest.mark.parametrize("kind", ["lama-thin", "lama-medium", "lama-thick"])
def test_lama_test_masks_cover_at_most_half(kind):
    for i in range(30):
        params = sample_lama_params(np.random.default_rng(i), kind, 128, 128)
        hole = render_lama(params, 128, 128)
        assert 0 < hole.mean() <= 0.5 and params.tries >= 1


def test_lama_segments_follow_the_config():
    strokes, boxes, box_proba, max_area, scale = lama_preset("lama-thin", 256, 256)
    assert (strokes, boxes, box_proba, max_area, scale) == ((4, 50, 10, 4, 40), None, 0.0, 0.5, 1.0)
    assert lama_preset("lama-thin", 512, 700)[0] == (4, 70, 20, 4, 100)
    assert lama_preset("lama-thin", 512, 512, LamaOptions(base=256))[0] == (4, 50, 20, 4, 80)  # scaled x2
    widths, angles = set(), set()
    for i in range(50):
        for x0, y0, x1, y1, w in sample_lama_params(np.random.default_rng(i), "lama-thin", 256, 256).segments:
            widths.add(w)
            assert 0 <= x1 <= 256 and 0 <= y1 <= 256
            if (x0, y0) != (x1, y1) and 0 < x1 < 256 and 0 < y1 < 256:
                angles.add(round(float(np.arctan2(x1 - x0, y1 - y0)), 1))
    assert min(widths) >= 5 and max(widths) <= 14
    assert len(angles) <= 16  # LaMa's few discrete directions (0.01 + integer radians, truncated ends)


def test_lama_train_has_empty_box_masks_like_lama():
    empty = sum(not render_lama(p, 64, 64).any() for p in
                (sample_lama_params(np.random.default_rng(i), "lama-train", 64, 64) for i in range(400)))
    assert 5 < empty < 60  # 1/4 boxes x 1/4 none = 6.25%


@pytest.mark.parametrize("hole_range", [(0.0, 1.0), (0.3, 0.5), (0.05, 0.25)])
def test_mat_ratio_strictly_inside_range(hole_range):
    for i in range(20):
        params = sample_mat_params(np.random.default_rng(i), 96, 96, MatOptions(hole_range=hole_range))
        ratio = render_mat(params, 96, 96).mean()
        assert hole_range[0] < ratio < hole_range[1]


def test_mat_range_too_narrow_to_draw():
    with pytest.raises(ValueError, match="lo \\+ hi >= 0.222"):
        sample_mat_params(np.random.default_rng(0), 512, 512, MatOptions(hole_range=(0.0, 0.1)))


def test_mat_fills_out_in_place():
    out = np.ones((50, 70), bool)
    params = sample_mat_params(np.random.default_rng(0), 50, 70, out=out)
    assert np.array_equal(out, render_mat(params, 50, 70))


def test_deepfill_counts_and_widths():
    for i in range(40):
        params = sample_deepfill_params(np.random.default_rng(i), 256, 256)
        assert 1 <= len(params.strokes) <= 3
        for width, vertices in params.strokes:
            assert 12 <= width <= 39 and 5 <= len(vertices) <= 12
            assert all(0 <= x <= 256 and 0 <= y <= 256 for x, y in vertices)


def test_flip_strokes_is_a_layer_flip():
    strokes = [(3, ((0, 0), (9, 4)))]
    assert flip_strokes(strokes, True, True, 10, 20) == [(3, ((19, 9), (10, 5)))]
    assert flip_strokes(strokes, False, False, 10, 20) is strokes


def test_boxes_inside_and_centred():
    for i in range(30):
        params = sample_box_params(np.random.default_rng(i), 40, 60, BoxOptions(count=(1, 4), size=(0.1, 1.0)))
        assert 1 <= len(params.boxes) <= 4
        for top, left, bottom, right in params.boxes:
            assert 0 <= top < bottom <= 40 and 0 <= left < right <= 60
    centre = sample_box_params(np.random.default_rng(0), 64, 64, BoxOptions(size=(0.5, 0.5), center=True))
    assert centre.boxes == ((16, 16, 48, 48),)
    assert render_box(centre, 64, 64).mean() == 0.25


def test_out_must_fit():
    params = sample_box_params(np.random.default_rng(0), 8, 8)
    with pytest.raises(ValueError, match="Expected out of shape"):
        render_box(params, 8, 8, out=np.zeros((8, 9), bool))
    with pytest.raises(ValueError, match="Expected H, W >= 1"):
        render_box(params, 0, 8)
