"""qdimd.masks.generator: Algorithm 1 of Iskakov 2018, determinism, record replay."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdimd import MaskConfig, MaskGenerator, MaskParams, hole_to_valid, render_mask, sample_mask_params
from qdimd.masks.generator import mask_rng
from qdimd.strokes.store import load_default_store


@pytest.fixture(scope="module")
def store():
    return load_default_store()


@pytest.fixture(scope="module")
def gen(store):
    return MaskGenerator(MaskConfig(), store, seed=3)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(16, 300), w=st.integers(16, 300), seed=st.integers(0, 2**32), index=st.integers(0, 10**9))
def test_masks_are_binary_with_the_requested_shape(store, h, w, seed, index):
    hole = MaskGenerator(MaskConfig(size=(h, w)), store, seed=seed).generate(index)
    assert hole.dtype == bool and hole.shape == (h, w)


def test_non_square_masks_span_the_canvas(store):
    holes = MaskGenerator(MaskConfig(size=(256, 512)), store, seed=0).batch(0, 200)
    assert holes.shape == (200, 256, 512)
    cols = holes.any(axis=(0, 1))
    assert cols[:64].any() and cols[-64:].any()  # drawings are stretched over the long side
    assert 0.05 < holes.mean() < 0.35


def test_batch_equals_generate_in_any_order(gen):
    batch = gen.batch(0, 12)
    assert np.array_equal(batch[7:], gen.batch(7, 5))
    for i in (11, 0, 5):
        assert np.array_equal(batch[i], gen.generate(i))


def test_same_seed_and_index_give_the_same_bytes_in_another_process(gen):
    code = ("import hashlib; from qdimd import MaskGenerator, MaskConfig; "
            "print(hashlib.sha256(MaskGenerator(MaskConfig(), seed=3).batch(40, 16).tobytes()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == hashlib.sha256(gen.batch(40, 16).tobytes()).hexdigest()


def test_seeds_differ(store):
    a = MaskGenerator(MaskConfig(), store, seed=0).batch(0, 4)
    b = MaskGenerator(MaskConfig(), store, seed=1).batch(0, 4)
    assert not np.array_equal(a, b)


def test_record_replays_through_json(gen, store):
    for index in (0, 9, 123):
        params = gen.params(index)
        again = MaskParams.from_dict(orjson.loads(orjson.dumps(params.to_dict())))
        assert again == params
        assert np.array_equal(render_mask(again, gen.config, store), gen.generate(index))


def test_mask_rng_is_default_rng_of_the_pair():
    assert mask_rng(5, 7).random() == np.random.default_rng([5, 7]).random()
    with pytest.raises(ValueError, match="seed >= 0"):
        mask_rng(-1, 0)


def test_parameter_distributions_match_the_paper(gen):
    # 4000 masks of seed 3: strokes ~ max(1, round(N(4, 2))) has mean 4.06 and std 1.86
    # (numerically: sum over k of k * P(round(X) = k) with the clip); width ~ U(5, 15); upscale ~ U(1, 1.5).
    params = [gen.params(i) for i in range(4000)]
    counts = np.array([len(p.strokes) for p in params])
    widths = np.concatenate([p.widths for p in params])
    upscale = np.array([p.upscale for p in params])
    assert counts.min() == 1 and abs(counts.mean() - 4.06) < 0.1 and abs(counts.std() - 1.86) < 0.1
    assert widths.min() >= 5 and widths.max() <= 15 and abs(widths.mean() - 10) < 0.15
    assert upscale.min() >= 1 and upscale.max() <= 1.5 and abs(upscale.mean() - 1.25) < 0.01
    store = gen.store
    for p in params[:50]:  # each stroke belongs to its drawing
        for d, s in zip(p.drawings, p.strokes):
            assert store.drawing_starts[d] <= s < store.drawing_starts[d + 1]


def test_widths_scale_with_the_output_size(store):
    small = MaskGenerator(MaskConfig(size=(256, 256)), store, seed=0).params(5)
    large = MaskGenerator(MaskConfig(size=(512, 1024)), store, seed=0).params(5)
    assert small.strokes == large.strokes
    assert np.allclose(np.array(large.widths), 2 * np.array(small.widths))
    holes = [MaskGenerator(MaskConfig(size=(s, s)), store, seed=0).batch(0, 100).mean() for s in (128, 512)]
    assert abs(holes[0] - holes[1]) < 0.01  # shape statistics do not change with resolution


def test_offset_translates_and_clip_box_clips(gen, store):
    params = gen.params(2)
    base = render_mask(params, gen.config, store)
    from dataclasses import replace

    moved = render_mask(replace(params, offset=(0.0, 16.0)), gen.config, store)
    # cairo's fixed-point rounding may flip a pixel or two on stroke edges.
    assert (moved[:, 16:] != base[:, :-16]).sum() <= 0.001 * base.sum() + 2
    assert not np.array_equal(moved, base)
    clipped = render_mask(replace(params, clip_box=(30, 40, 200, 220)), gen.config, store)
    assert not clipped[:30].any() and not clipped[200:].any() and not clipped[:, :40].any() and not clipped[:, 220:].any()
    assert np.array_equal(clipped[30:200, 40:220], base[30:200, 40:220])


def test_augment_hook_samples_then_applies(store):
    from qdimd.masks.augment import AugmentConfig, apply_augment

    config = MaskConfig(augment=AugmentConfig(dilate_p=1.0, hflip_p=1.0))
    gen = MaskGenerator(config, store, seed=0)
    params = gen.params(4)
    assert params.augment is not None
    plain = render_mask(MaskParams(**{**params.__dict__, "augment": None}), config, store)
    assert np.array_equal(gen.generate(4), apply_augment(plain, params.augment))
    assert np.array_equal(gen.batch(4, 1)[0], gen.generate(4))
    assert MaskParams.from_dict(orjson.loads(orjson.dumps(params.to_dict()))) == params
    assert MaskConfig.from_dict(config.to_dict()) == config


def test_split_draws_only_from_its_half(store):
    from qdimd.strokes.splits import split_of

    gen = MaskGenerator(MaskConfig(split="test"), store, seed=0)
    drawings = {d for i in range(50) for d in gen.params(i).drawings}
    assert {split_of(store.categories[store.drawing_category[d]]) for d in drawings} == {"test"}


def test_sample_mask_params_is_a_pure_function_of_its_rng(store):
    config = MaskConfig()
    pool = np.arange(store.n_drawings)
    a = sample_mask_params(np.random.default_rng([1, 2]), config, store, pool, 2, 1)
    b = sample_mask_params(np.random.default_rng([1, 2]), config, store, range(store.n_drawings), 2, 1)
    assert a == b and a == MaskGenerator(config, store, seed=1).params(2)


@pytest.mark.parametrize("kwargs, message", [
    ({"size": (0, 10)}, "size"),
    ({"size": (1, 2, 3)}, "size"),
    ({"strokes_std": -1.0}, "strokes_std"),
    ({"min_strokes": 0}, "min_strokes"),
    ({"width_min": 10.0, "width_max": 5.0}, "width_min <= width_max"),
    ({"upscale_min": 0.0}, "upscale_min"),
    ({"reference_size": 0}, "reference_size"),
    ({"split": "val"}, "split"),
    ({"renderer": "skia"}, "renderer"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskConfig(**kwargs)


def test_config_accepts_a_square_int_and_round_trips():
    config = MaskConfig(size=128)
    assert config.size == (128, 128)
    assert MaskConfig.from_dict(orjson.loads(orjson.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown"):
        MaskConfig.from_dict({"colour": 1})


def test_from_dict_rejects_broken_records():
    with pytest.raises(ValueError, match="MaskParams dict"):
        MaskParams.from_dict({"index": 1})
    with pytest.raises(ValueError, match="as many"):
        MaskParams.from_dict({"index": 0, "seed": 0, "drawings": [1], "strokes": [1, 2], "widths": [3.0], "upscale": 1.0})


def test_hole_to_valid():
    hole = np.array([[True, False]])
    valid = hole_to_valid(hole)
    assert valid.dtype == np.float32 and valid.tolist() == [[0.0, 1.0]]


def test_generator_iterates_from_zero(gen):
    it = iter(gen)
    assert np.array_equal(next(it), gen.generate(0)) and np.array_equal(next(it), gen.generate(1))


def test_opencv_renderer_through_the_generator(store):
    cairo = MaskGenerator(MaskConfig(renderer="cairo"), store, seed=0).batch(0, 20)
    cv = MaskGenerator(MaskConfig(renderer="opencv"), store, seed=0)
    opencv = cv.batch(0, 20)
    assert np.array_equal(opencv[3], cv.generate(3))
    assert (cairo & opencv).sum() / (cairo | opencv).sum() > 0.85


def test_no_empty_masks_unless_allowed():
    # Algorithm 1 as printed (allow_empty=True) gives 7 empty masks in the first 3,000 of
    # seed 0 at 256 on the bundled sample (measured; 24 with mask version 1); redrawing such masks leaves none.
    counts = {}
    for allow_empty in (False, True):
        gen = MaskGenerator(MaskConfig(allow_empty=allow_empty), seed=0)
        counts[allow_empty] = int((gen.batch(0, 3000).reshape(3000, -1).any(axis=1) == 0).sum())
    assert counts[False] == 0
    assert counts[True] > 0
