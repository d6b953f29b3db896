"""qdimd.files.layout and qdimd.files.writer: names, parts, tasks, the library entry point."""
from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdimd import MaskConfig, MaskGenerator, StrokeStore, load_default_store
from qdimd.io import hole_from_gray, load_gray
from qdimd.files.layout import encode_png, mask_stem, part_range, plan_tasks, tar_member
from qdimd.files.writer import write_masks


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), parts=st.integers(1, 9), fmt=st.sampled_from(["png", "tar"]), shard_size=st.integers(1, 700))
def test_parts_cover_every_index_once_in_order(n, parts, fmt, shard_size):
    (first, stop), everything = plan_tasks(n, fmt, shard_size, None)
    assert (first, stop) == (0, n)
    indices = []
    for k in range(1, parts + 1):
        (lo, hi), tasks = plan_tasks(n, fmt, shard_size, (k, parts))
        covered = [i for t in tasks for i in range(t.first, t.stop)]
        assert covered == list(range(lo, hi))
        indices += covered
        if fmt == "tar":
            assert all(t.first == t.shard * shard_size for t in tasks)
    assert indices == list(range(n))


def test_part_range_rejects_bad_parts():
    assert part_range(10, (2, 3)) == (3, 6)
    with pytest.raises(ValueError, match="1 <= K <= N"):
        part_range(10, (4, 3))


def test_names():
    assert mask_stem(7, 100, "plain", None) == "00000007"
    assert mask_stem(7, 10**9, "plain", None) == "000000007"
    assert mask_stem(0, 12000, "qdimd", "test") == "00001_test"
    with pytest.raises(ValueError, match="layout"):
        mask_stem(0, 1, "lama", None)


def test_png_bytes_round_trip_both_polarities():
    hole = MaskGenerator(MaskConfig(size=(40, 72)), seed=0).generate(1)
    for hole_value in (255, 0):
        data = encode_png(hole.copy(), hole_value)
        assert np.array_equal(hole_from_gray(load_gray(io.BytesIO(data)), hole_value), hole)
    assert tar_member("a.png", 3).tobuf() == tar_member("a.png", 3).tobuf()  # reproducible headers


def test_write_masks_from_python_with_an_in_memory_store(tmp_path):
    bundled = load_default_store()
    store = StrokeStore.from_drawings(bundled.drawing(d) for d in range(40))
    run = write_masks(tmp_path / "o", MaskConfig(size=(32, 48)), store, n=6, seed=2)
    assert run.manifest.is_file() and len(run.manifest.read_text().splitlines()) == 7
    expected = MaskGenerator(MaskConfig(size=(32, 48)), store, seed=2).generate(5)
    assert np.array_equal(hole_from_gray(load_gray(tmp_path / "o" / "00000005.png"), 255), expected)
