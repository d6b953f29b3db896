"""qdimd.kinds.generator: determinism, replay, shapes and mixtures of every kind."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdimd.kinds import KIND_NAMES, KindGenerator, KindParams, render_kind_params
from qdimd.masks.generator import MaskGenerator
from qdimd.masks.params import MaskConfig

OTHER_KINDS = [k for k in KIND_NAMES if k != "qdimd"]


def _digest(holes: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(holes).tobytes()).hexdigest()


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_same_seed_and_index_same_mask(kind):
    a = KindGenerator(kind, MaskConfig(size=(96, 128)), seed=5)
    b = KindGenerator(kind, MaskConfig(size=(96, 128)), seed=5)
    batch = a.batch(0, 12)
    assert batch.shape == (12, 96, 128) and batch.dtype == np.bool_
    # in another order, one by one, from a fresh generator: the same bytes
    singles = np.stack([b.generate(i) for i in reversed(range(12))])[::-1]
    assert np.array_equal(batch, singles)
    assert not np.array_equal(batch, KindGenerator(kind, MaskConfig(size=(96, 128)), seed=6).batch(0, 12))
    assert len({_digest(h) for h in batch}) > 6  # masks differ between indices


def test_masks_identical_in_another_process():
    code = ("import hashlib, numpy as np; from qdimd.kinds import KindGenerator; from qdimd.masks.params import MaskConfig;"
            "g = KindGenerator('lama-thick:1,mat:1,deepfill:1,box:1', MaskConfig(size=(64, 80)), seed=9);"
            "print(hashlib.sha256(np.packbits(g.batch(3, 20)).tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    here = KindGenerator("lama-thick:1,mat:1,deepfill:1,box:1", MaskConfig(size=(64, 80)), seed=9).batch(3, 20)
    assert out == _digest(here)


@pytest.mark.parametrize("kind", OTHER_KINDS)
def test_record_replays_through_json(kind):
    gen = KindGenerator(kind, MaskConfig(size=(120, 90)), seed=2)
    for index in range(6):
        record = gen.params(index)
        assert record.kind == kind and record.index == index and record.seed == 2
        again = KindParams.from_dict(orjson.loads(orjson.dumps(record.to_dict())))
        assert again == record
        assert np.array_equal(render_kind_params(again, 120, 90), gen.generate(index))


def test_qdimd_kind_is_the_plain_generator():
    config = MaskConfig(size=(64, 64))
    ours = KindGenerator("qdimd", config, seed=4)
    assert np.array_equal(ours.batch(0, 8), MaskGenerator(config, seed=4).batch(0, 8))
    record = ours.params(3)
    again = KindParams.from_dict(orjson.loads(orjson.dumps(record.to_dict())))
    assert np.array_equal(render_kind_params(again, 64, 64, config=config), ours.generate(3))
    with pytest.raises(ValueError, match="Expected the MaskConfig"):
        render_kind_params(again, 64, 64)


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(OTHER_KINDS), h=st.integers(16, 300), w=st.integers(16, 300), index=st.integers(0, 10**6))
def test_any_size(kind, h, w, index):
    hole = KindGenerator(kind, MaskConfig(size=(h, w)), seed=1).generate(index)
    assert hole.shape == (h, w) and hole.dtype == np.bool_
    assert set(np.unique(hole.view(np.uint8)).tolist()) <= {0, 1}


@pytest.mark.parametrize("kind", ["deepfill", "box", "lama-train"])
def test_tiny_sizes(kind):
    assert KindGenerator(kind, MaskConfig(size=(1, 3)), seed=0).batch(0, 4).shape == (4, 1, 3)


def test_impossible_selection_raises():
    with pytest.raises(ValueError, match="covering at most 0.5"):
        KindGenerator("lama-thick", MaskConfig(size=(1, 1))).generate(0)


def test_mixture_picks_each_kind_from_the_masks_generator():
    gen = KindGenerator("lama-thick:0.5,qdimd:0.5", MaskConfig(size=(64, 64)), seed=0)
    kinds = [gen.params(i).kind for i in range(200)]
    assert 70 < kinds.count("qdimd") < 130 and kinds.count("lama-thick") == 200 - kinds.count("qdimd")
    weighted = KindGenerator("box:9,deepfill:1", MaskConfig(size=(64, 64)), seed=0)
    assert [weighted.params(i).kind for i in range(300)].count("box") > 240
    mixed = gen.batch(0, 40)
    assert np.array_equal(mixed[7], gen.generate(7))


def test_render_reuses_and_recomputes_identically():
    gen = KindGenerator("mat", MaskConfig(size=(64, 64)), seed=3)
    records = [gen.params(i) for i in range(5)]
    fresh = KindGenerator("mat", MaskConfig(size=(64, 64)), seed=3)
    assert np.array_equal(gen.render(records), fresh.render(records))  # cached versus rendered again
    assert np.array_equal(gen.render(records), gen.batch(0, 5))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Expected seed >= 0"):
        KindGenerator("box", seed=-1)
    gen = KindGenerator("box", MaskConfig(size=(32, 32)))
    with pytest.raises(ValueError, match="Expected start >= 0"):
        gen.batch(-1, 2)
    with pytest.raises(ValueError, match="Expected a kind"):
        KindParams.from_dict({"kind": "nope", "index": 0, "seed": 0, "params": {}})
    with pytest.raises(ValueError, match="Expected a kind record"):
        KindParams.from_dict({"kind": "box"})
    with pytest.raises(ValueError, match="unknown"):
        KindParams.from_dict({"kind": "box", "index": 0, "seed": 0, "params": {"boxes": [], "colour": 1}})
    with pytest.raises(ValueError, match="Expected records of"):
        gen.render([KindGenerator("qdimd", MaskConfig(size=(32, 32))).params(0)])
