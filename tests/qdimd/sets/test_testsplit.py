"""Tests for qdimd.sets.testsplit internals (the CLI tests cover the files it writes)."""
from __future__ import annotations

from qdimd.masks.generator import MaskConfig
from qdimd.sets.testsplit import BucketSpec, _generator, cells
from qdimd.strokes.store import load_default_store


def test_the_12_generators_share_one_drawing_pool():
    # issue 12: each built its own int64 copy (about 2.5 GB per process for 50 M drawings)
    store = load_default_store()
    spec = BucketSpec("unused", MaskConfig(size=(64, 64), split="test"), 0, 4, 6,
                      (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6), 255, False)
    pools = {id(_generator(spec, store, b, g).pool) for b, g in cells()}
    assert len(pools) == 1
