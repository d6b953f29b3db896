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
    # karfly/qd-imd's generate_dataset.py names mask k of a split '{:05}_{}.png'.format(k, split), k from 0
    assert mask_stem(0, 12000, "qdimd", "test") == "00000_test"
    assert mask_stem(11999, 12000, "qdimd", "test") == "11999_test"
    assert mask_stem(99999, 100000, "qdimd", None) == "99999_train"
    assert mask_stem(100000, 100001, "qdimd", None) == "100000_train"
    with pytest.raises(ValueError, match="layout"):
        mask_stem(0, 1, "lama", None)


@pytest.mark.parametrize("bits", [8, 1])
@pytest.mark.parametrize("size", [(40, 72), (33, 37), (1, 1)])  # widths that are and are not a multiple of 8
def test_png_bytes_round_trip_both_polarities_and_depths(bits, size):
    import cv2
    from PIL import Image

    hole = MaskGenerator(MaskConfig(size=size), seed=0).generate(1)
    hole[0, -1] = True  # the last pixel of a row lands in a partial byte of a 1-bit row
    for hole_value in (255, 0):
        data = encode_png(hole, hole_value, bits)
        assert np.array_equal(hole_from_gray(load_gray(io.BytesIO(data)), hole_value), hole)
        gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)  # OpenCV (libpng) expands to 0/255
        assert np.array_equal(gray == hole_value, hole) and set(np.unique(gray)) <= {0, 255}
        with Image.open(io.BytesIO(data)) as im:
            assert im.mode == ("L" if bits == 8 else "1") and im.size == size[::-1]
            if bits == 8:  # raw 8-bit reads give 0/255, as OpenCV's 8-bit PNGs did
                assert np.array_equal(np.asarray(im) == hole_value, hole)


def test_png_rejects_bad_options():
    hole = np.zeros((4, 4), bool)
    with pytest.raises(ValueError, match="PNG bits"):
        encode_png(hole, 255, 4)
    with pytest.raises(ValueError, match="hole_value"):
        encode_png(hole, 1)
    assert tar_member("a.png", 3).tobuf() == tar_member("a.png", 3).tobuf()  # reproducible headers


def test_write_masks_from_python_with_an_in_memory_store(tmp_path):
    bundled = load_default_store()
    store = StrokeStore.from_drawings(bundled.drawing(d) for d in range(40))
    run = write_masks(tmp_path / "o", MaskConfig(size=(32, 48)), store, n=6, seed=2)
    assert run.manifest.is_file() and len(run.manifest.read_text().splitlines()) == 7
    expected = MaskGenerator(MaskConfig(size=(32, 48)), store, seed=2).generate(5)
    assert np.array_equal(hole_from_gray(load_gray(tmp_path / "o" / "00000005.png"), 255), expected)


@pytest.mark.parametrize("unnamed", [True, False])
def test_folder_writer_writes_whole_files_and_leaves_nothing_else(tmp_path, unnamed):
    from qdimd.files.writetask import FolderWriter

    writer = FolderWriter(str(tmp_path))
    writer.unnamed = writer.unnamed and unnamed  # False: the rename path of systems without O_TMPFILE
    writer.write("a.png", b"first")
    writer.write("b.png", b"x" * 100_000)
    writer.write("a.png", b"second")  # an existing name is replaced
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    assert (tmp_path / "a.png").read_bytes() == b"second" and (tmp_path / "b.png").read_bytes() == b"x" * 100_000


def test_folder_writer_falls_back_to_rename_where_unnamed_files_fail(tmp_path, monkeypatch):
    import os

    from qdimd.files import writetask

    writer = writetask.FolderWriter(str(tmp_path))
    flag = 1 << 30  # stands for O_TMPFILE, on any system: a file system that refuses it
    monkeypatch.setattr(writetask, "_O_TMPFILE", flag)
    writer.unnamed = True
    real_open = os.open

    def failing_open(path, flags, *args):
        if flags & flag:
            raise OSError(95, "Operation not supported")
        return real_open(path, flags, *args)

    monkeypatch.setattr(writetask.os, "open", failing_open)
    writer.write("m.png", b"data")
    assert writer.unnamed is False and (tmp_path / "m.png").read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_an_interrupt_removes_the_temporary_shards_of_terminated_workers(tmp_path, monkeypatch):
    """Ctrl-C during `qdimd generate --format tar --workers N`: the pool is terminated while workers write shards
    under temporary names; the run removes them (they stayed, hidden, until a --resume)."""
    import qdimd.files.writer as writer

    def killed_mid_shard(fn, items, workers, initializer=None):
        (tmp_path / "o" / ".shard-000001.tar.0123456789ab.tmp").write_bytes(b"half a shard")
        raise KeyboardInterrupt
        yield  # noqa: unreachable - a generator, as map_in_workers is

    monkeypatch.setattr(writer, "map_in_workers", killed_mid_shard)
    store = StrokeStore.from_drawings(load_default_store().drawing(d) for d in range(40))
    with pytest.raises(KeyboardInterrupt):
        write_masks(tmp_path / "o", MaskConfig(size=(32, 32)), store, n=30, fmt="tar", shard_size=10, workers=2)
    assert not [p.name for p in (tmp_path / "o").iterdir() if p.name.endswith(".tmp")]
