"""Peak RSS of building the 12 targeted generators of ``qdimd bucket`` on a large stroke store.

    python -m benchmarks.bench_bucket_memory

A synthetic in-memory store of 10 M drawings (one 2-point stroke each, categories cycling
through the bundled sample's), ``split="test"`` (5 M drawings in the pool): the peak RSS
after building the store and after building the 12 (bucket, group) generators as
``write_bucket_set`` does, and how many distinct drawing pools they hold (issue 12: one
int64 copy each before, 8 bytes a drawing). Runs on the layout before issue 10 too
(``PYTHONPATH=<old checkout>``) for a before/after figure.
"""
import resource
import time

import numpy as np

try:
    from qdimd.sets.testsplit import BucketSpec, _generator, cells
    from qdimd.strokes.store import StrokeStore, load_default_store
    from qdimd.masks.generator import MaskConfig
except ImportError:
    from qdimd.bucketset import BucketSpec, _generator, cells
    from qdimd.store import StrokeStore, load_default_store
    from qdimd.generator import MaskConfig

D = 10_000_000
cats = load_default_store().categories
rng = np.random.default_rng(0)
store = StrokeStore(
    points=rng.integers(0, 256, (2 * D, 2), dtype=np.uint8),
    stroke_starts=np.arange(0, 2 * D + 1, 2, dtype=np.int64),
    drawing_starts=np.arange(D + 1, dtype=np.int64),
    drawing_category=(np.arange(D) % len(cats)).astype(np.int16),
    key_ids=np.arange(D, dtype=np.uint64),
    recognized=np.ones(D, bool),
    categories=tuple(cats),
)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
spec = BucketSpec("unused", MaskConfig(size=(256, 256), split="test"), 0, 10, 25, (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6), 255, False)
t = time.time()
gens = [_generator(spec, store, b, g) for b, g in cells()]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"store of {D:,} drawings: peak RSS {base:.0f} MiB after building it; {peak:.0f} MiB after the 12 generators"
      f" (+{peak - base:.0f} MiB, {time.time() - t:.0f} s); distinct pools: {len({id(g.pool) for g in gens})}")
