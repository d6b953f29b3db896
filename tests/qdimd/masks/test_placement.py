"""Tests for mask version 2's placement (qdimd.masks.placement) and the versioning of the mask definition."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from qdimd.masks.augment import AugmentConfig
from qdimd.masks.generator import MaskConfig, MaskGenerator, MaskParams, render_mask
from qdimd.masks.params import MASK_VERSION
from qdimd.masks.placement import FIT_MARGIN, fit_transform
from qdimd.masks.render import cairo_available
from qdimd.masks.targeted import TargetedGenerator
from qdimd.strokes.store import StrokeStore, load_default_store


@pytest.fixture(scope="module")
def store():
    return load_default_store()


def _quadrants(holes: np.ndarray) -> list[float]:
    h, w = holes.shape[1:]
    density = holes.mean(axis=0)
    return [float(q.mean()) for q in (density[:h // 2, :w // 2], density[:h // 2, w // 2:],
                                      density[h // 2:, :w // 2], density[h // 2:, w // 2:])]


def test_no_top_left_bias(store):
    # issue 12: version 1 gave 0.237 / 0.186 / 0.157 / 0.108 (max/min 2.19) over 3,000 masks at 256
    q = _quadrants(MaskGenerator(MaskConfig(size=(256, 256)), store, seed=0).batch(0, 3000))
    assert max(q) / min(q) <= 1.10, q


def test_version_1_keeps_its_bias(store):
    q = _quadrants(MaskGenerator(MaskConfig(size=(128, 128), mask_version=1), store, seed=0).batch(0, 1000))
    assert q[0] / q[3] > 1.8  # the bias version 2 removes


def test_a_union_is_fitted_to_the_canvas_less_the_margin():
    # one straight stroke from (10, 20) to (60, 30) in Quick, Draw! space, upscale 1, no mirror
    sx, bx, sy, by = fit_transform((10.0, 20.0, 60.0, 30.0), (0.0, 0.0, 100.0, 200.0), 1.0, False, False)
    x = np.array([10.0, 60.0]) * sx + bx
    y = np.array([20.0, 30.0]) * sy + by
    np.testing.assert_allclose(x, [200 * FIT_MARGIN, 200 * (1 - FIT_MARGIN)])  # the long side spans the box
    np.testing.assert_allclose(y.mean(), 50.0)  # centred
    assert sy == pytest.approx(sx / 2)  # the QD square stretched onto a 100 x 200 box per axis
    mx, bmx, _, _ = fit_transform((10.0, 20.0, 60.0, 30.0), (0.0, 0.0, 100.0, 200.0), 1.0, True, False)
    np.testing.assert_allclose(np.array([10.0, 60.0]) * mx + bmx, x[::-1])  # mirrored left-right


def test_a_single_dot_lands_at_the_centre():
    store = StrokeStore(points=np.array([[3, 250]], np.uint8), stroke_starts=np.array([0, 1]),
                        drawing_starts=np.array([0, 1]), drawing_category=np.zeros(1, np.int16),
                        key_ids=np.zeros(1, np.uint64), recognized=np.ones(1, bool), categories=("cat",))
    params = MaskParams(index=0, seed=0, drawings=(0,), strokes=(0,), widths=(9.0,), upscale=1.3)
    hole = render_mask(params, MaskConfig(size=(64, 64)), store)
    ys, xs = np.nonzero(hole)
    assert abs(xs.mean() + 0.5 - 32) < 0.5 and abs(ys.mean() + 0.5 - 32) < 0.5


def test_records_and_configs_carry_the_version(store):
    config = MaskConfig(size=(64, 64))
    assert config.mask_version == MASK_VERSION == 2 and config.to_dict()["mask_version"] == 2
    params = MaskGenerator(config, store, seed=0).params(3)
    row = params.to_dict()
    assert row["version"] == 2 and MaskParams.from_dict(row) == params
    # written before versions existed: version 1
    old_row = {k: v for k, v in row.items() if k not in ("version", "fit_box", "mirror")}
    assert MaskParams.from_dict(old_row).version == 1
    old_config = {k: v for k, v in config.to_dict().items() if k != "mask_version"}
    assert MaskConfig.from_dict(old_config).mask_version == 1


def test_unknown_versions_are_refused_clearly(store):
    with pytest.raises(ValueError, match="mask version in"):
        MaskConfig(mask_version=3)
    row = MaskGenerator(MaskConfig(size=(64, 64)), store, seed=0).params(0).to_dict()
    with pytest.raises(ValueError, match="mask version in"):
        MaskParams.from_dict({**row, "version": 7})
    with pytest.raises(ValueError, match="mask version 2 for targeted"):
        TargetedGenerator(MaskConfig(size=(64, 64), mask_version=1), store, ratio_range=(0.1, 0.2))


# sha256 of MaskGenerator(...).batch(0, 20).tobytes() at commit d9a3487 (before issue 12), seed 3:
# MaskConfig(size=(64, 80)) and MaskConfig(size=(64, 64), augment=AugmentConfig())
V1_HASHES = {
    "cairo": ("5a971fdadf163f9b2f23d5535dcf45e4fad365bf40201842051016d0f065d3bd",
              "e35fb283fcb29c0a3dfee35862b10dd2e36a775fe5e9fa4f8ab9851b73d8d07c"),
    "opencv": ("d4949c654fd6a987d88b4f41edf7a2f8b6cc192d9d98a361201ffb9810cfdc51",
               "8eeea24186c75fd6e301bede6722a00cc2506748ecf4aff6e16872023f653f8a"),
}


@pytest.mark.parametrize("renderer", ["cairo", "opencv"])
def test_version_1_reproduces_the_masks_of_before(store, renderer):
    if renderer == "cairo" and not cairo_available():
        pytest.skip("libcairo not available")
    plain = MaskGenerator(MaskConfig(size=(64, 80), renderer=renderer, mask_version=1), store, seed=3)
    augmented = MaskGenerator(MaskConfig(size=(64, 64), augment=AugmentConfig(), renderer=renderer, mask_version=1),
                              store, seed=3)
    got = tuple(hashlib.sha256(g.batch(0, 20).tobytes()).hexdigest() for g in (plain, augmented))
    assert got == V1_HASHES[renderer]


def test_version_2_differs_and_replays(store):
    gen = MaskGenerator(MaskConfig(size=(64, 80)), store, seed=3)
    holes = gen.batch(0, 20)
    assert hashlib.sha256(holes.tobytes()).hexdigest() not in {h for pair in V1_HASHES.values() for h in pair}
    for i in range(20):
        np.testing.assert_array_equal(render_mask(MaskParams.from_dict(gen.params(i).to_dict()), gen.config, store),
                                      holes[i])
