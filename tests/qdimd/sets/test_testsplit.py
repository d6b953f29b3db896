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


def test_workers_write_the_same_split(tmp_path):
    from qdimd.masks.augment import AugmentConfig
    from qdimd.sets.testsplit import write_bucket_set

    config = MaskConfig(size=(48, 48), split="test", augment=AugmentConfig())
    for workers in (1, 2):
        for _ in write_bucket_set(tmp_path / str(workers), config, per_group=2, seed=4, workers=workers):
            pass
    one, two = tmp_path / "1", tmp_path / "2"
    files = sorted(p.relative_to(one) for p in one.rglob("*.png"))
    assert len(files) == 24 and files == sorted(p.relative_to(two) for p in two.rglob("*.png"))
    assert all((one / f).read_bytes() == (two / f).read_bytes() for f in files)
    assert (one / "manifest.csv").read_text() == (two / "manifest.csv").read_text()
