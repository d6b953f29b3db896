"""The stroke store: file format, memory mapping, pools, errors, the streaming builder, dedupe."""
from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdimd.strokes.builder import _KeySet, build_store
from qdimd.errors import InputError, ProblemLog
from qdimd.strokes.splits import split_of
from qdimd.strokes.store import StrokeStore, load_default_store
from qdimd.strokes.builder import open_strokes
from qdimd.strokes.storefile import ARRAYS, write_store_file
from qdimd.strokes.ndjson import read_ndjson

QUICKDRAW = Path(__file__).parents[2] / "data" / "quickdraw"
SIMPLIFIED = QUICKDRAW / "simplified.ndjson"
RAW = QUICKDRAW / "raw.ndjson"


@pytest.fixture(scope="module")
def bundled() -> StrokeStore:
    return load_default_store()


def fixture_drawings():
    return list(read_ndjson(SIMPLIFIED, problems=ProblemLog(strict=True)))


def assert_same_store(a: StrokeStore, b: StrokeStore) -> None:
    assert a.categories == b.categories
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_bundled_store_is_the_real_sample(bundled):
    assert bundled.n_drawings == 8600 and len(bundled.categories) == 344
    assert bundled.n_strokes == 45487 and bundled.n_points == 382741
    assert isinstance(bundled.points, np.memmap) and isinstance(bundled.stroke_starts, np.memmap)
    assert bundled.points.dtype == np.uint8 and bundled.points.shape == (bundled.n_points, 2)
    assert bundled.drawing_category.dtype == np.int16 and bundled.key_ids.dtype == np.uint64
    assert (np.diff(bundled.stroke_starts) >= 1).all() and (np.diff(bundled.drawing_starts) >= 1).all()
    assert len(set(bundled.key_ids.tolist())) == bundled.n_drawings
    assert list(bundled.categories) == sorted(bundled.categories)
    # at most 2 bytes per point plus offsets and per-drawing fields
    size = bundled.path.stat().st_size
    assert size <= 2 * bundled.n_points + 8 * (bundled.n_strokes + bundled.n_drawings) + 11 * bundled.n_drawings + 16384


def test_bundled_store_has_real_dots(bundled):
    lengths = np.diff(np.asarray(bundled.stroke_starts))
    dots = sum(1 for s in np.flatnonzero(lengths <= 2) if (bundled.stroke(s) == bundled.stroke(s)[0]).all())
    assert 0.005 < dots / bundled.n_strokes < 0.1  # ~3% of real strokes are single points


def test_stroke_is_a_view(bundled):
    s = bundled.stroke(10)
    assert s.dtype == np.uint8 and s.ndim == 2 and s.shape[1] == 2 and len(s) >= 1
    assert np.shares_memory(s, bundled.points)


def test_round_trip_through_a_file(tmp_path):
    drawings = fixture_drawings()
    store = StrokeStore.from_drawings(drawings)
    path = tmp_path / "s.qds"
    store.save(path)
    loaded = StrokeStore.load(path)
    assert_same_store(store, loaded)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["s.qds"]
    for d, original in enumerate(drawings):
        back = loaded.drawing(d)
        assert back.word == original.word and back.key_id == original.key_id
        assert back.recognized == original.recognized
        assert [s.tolist() for s in back.strokes] == [s.tolist() for s in original.strokes]


def test_drawing_pool_splits_and_categories(bundled):
    train, test = bundled.drawing_pool("train"), bundled.drawing_pool("test")
    assert len(train) + len(test) == bundled.n_drawings and not set(train.tolist()) & set(test.tolist())
    assert all(split_of(bundled.categories[bundled.drawing_category[d]]) == "train" for d in train[::97])
    cats = bundled.drawing_pool(categories=["cat", "dog"])
    assert cats.dtype == np.int64 and len(cats) == 50
    assert {bundled.categories[bundled.drawing_category[d]] for d in cats} == {"cat", "dog"}
    np.testing.assert_array_equal(bundled.drawing_pool(), np.arange(bundled.n_drawings))
    with pytest.raises(ValueError, match="category not in the store .*quickdraw_sample.qds"):
        bundled.drawing_pool(categories=["not a category"])
    with pytest.raises(ValueError, match="Expected split"):
        bundled.drawing_pool("validation")


def test_pickle_of_a_loaded_store_reopens_the_file(bundled):
    data = pickle.dumps(bundled)
    assert len(data) < 1000  # the path, not the arrays
    again = pickle.loads(data)
    assert isinstance(again.points, np.memmap)
    assert_same_store(bundled, again)
    memory = StrokeStore.from_drawings(fixture_drawings())
    assert_same_store(memory, pickle.loads(pickle.dumps(memory)))


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"\x89PNG\r\n\x1a\n" + b[8:], "not a qdimd stroke store"),
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:10], "not a qdimd stroke store"),
    (lambda b: b"", "not a qdimd stroke store"),
    (lambda b: b[:16] + b"x" + b[17:], "corrupt"),
    (lambda b: b.replace(b'"version":1', b'"version":9'), "version 9"),
])
def test_foreign_or_corrupt_files_raise_input_error(tmp_path, bundled, damage, message):
    path = tmp_path / "bad.qds"
    path.write_bytes(damage(bundled.path.read_bytes()))
    with pytest.raises(InputError, match=message) as info:
        StrokeStore.load(path)
    assert str(path) in str(info.value)


def test_inconsistent_offsets_raise(tmp_path, bundled):
    store = StrokeStore.from_drawings(fixture_drawings())
    path = tmp_path / "s.qds"
    store.save(path)
    data = bytearray(path.read_bytes())
    spec = StrokeStore.load(path)  # find where stroke_starts ends: overwrite its last value
    offset = spec.stroke_starts.offset + spec.stroke_starts.nbytes - 8
    del spec
    data[offset:offset + 8] = np.int64(7).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="inconsistent"):
        StrokeStore.load(path)


@pytest.mark.parametrize("path, message", [("missing.qds", "no such"), (".", "folder")])
def test_missing_store_raises(tmp_path, path, message):
    with pytest.raises(InputError, match=message):
        StrokeStore.load(tmp_path / path)


def test_interrupted_save_keeps_the_old_file(tmp_path, bundled):
    path = tmp_path / "s.qds"
    shutil.copy(bundled.path, path)
    before = path.read_bytes()

    def boom():
        yield np.zeros((3, 2), np.uint8)
        raise KeyboardInterrupt

    lengths = {name: 3 for name in ARRAYS}
    with pytest.raises(KeyboardInterrupt):
        write_store_file(path, ["a"], lengths, {name: boom for name in ARRAYS})
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["s.qds"]


def test_build_matches_from_drawings_whatever_the_chunk(tmp_path):
    reference = StrokeStore.from_drawings(fixture_drawings())
    for chunk in (1, 2, 1000):
        out = tmp_path / f"c{chunk}.qds"
        counts = build_store([SIMPLIFIED], out, problems=ProblemLog(strict=True), chunk_drawings=chunk)
        assert counts["drawings"] == 5 and counts["duplicates"] == 0
        assert_same_store(reference, StrokeStore.load(out))


def test_build_mixes_sources_and_drops_duplicate_key_ids(tmp_path, bundled):
    gz = tmp_path / "in" / "s.ndjson.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(SIMPLIFIED.read_bytes()))
    seen = []
    out = tmp_path / "all.qds"
    counts = build_store([SIMPLIFIED, str(QUICKDRAW / "r*.ndjson"), gz.parent, bundled.path], out,
                         problems=ProblemLog(strict=True), chunk_drawings=3, progress=seen.append)
    store = StrokeStore.load(out)
    # raw has the same 3 drawings as simplified, the .gz all 5, and the bundled store all 5 again
    assert counts["files"] == 4 and counts["duplicates"] == 3 + 5 + 5
    assert store.n_drawings == 8600 and len(np.unique(store.key_ids)) == 8600
    assert sum(seen) == 5 + 3 + 5 + 8600
    np.testing.assert_array_equal(store.key_ids[:5], [d.key_id for d in fixture_drawings()])  # first one wins
    assert sorted(os.listdir(tmp_path)) == ["all.qds", "in"]


def test_build_filters(tmp_path, bundled):
    out = tmp_path / "f.qds"
    build_store([bundled.path], out, problems=ProblemLog(), categories=["cat", "ant"], recognized_only=True)
    store = StrokeStore.load(out)
    assert store.categories == ("ant", "cat") and store.recognized.all()
    expected = bundled.drawing_pool(categories=["cat", "ant"])
    assert store.n_drawings == int(bundled.recognized[expected].sum())


def test_build_reports_bad_sources_and_refuses_nothing(tmp_path):
    problems = ProblemLog()
    out = tmp_path / "x.qds"
    build_store([SIMPLIFIED, tmp_path / "missing", str(tmp_path / "*.nothing")], out, problems=problems)
    assert StrokeStore.load(out).n_drawings == 5
    assert [p.reason for p in problems.problems] == ["no such file or folder", "the pattern matches no file"]
    with pytest.raises(InputError, match="no drawings to index"):
        build_store([tmp_path / "missing"], tmp_path / "y.qds", problems=ProblemLog())
    with pytest.raises(InputError, match="missing: no such file"):
        build_store([SIMPLIFIED, tmp_path / "missing"], tmp_path / "y.qds", problems=ProblemLog(strict=True))
    assert sorted(os.listdir(tmp_path)) == ["x.qds"]


def test_rebuild_into_a_source_and_folder_excludes_the_output(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SIMPLIFIED, folder / "a.ndjson")
    out = folder / "a.qds"
    build_store([folder], out, problems=ProblemLog(strict=True))
    first = out.read_bytes()
    build_store([folder], out, problems=ProblemLog(strict=True))  # the old a.qds is not read again
    assert out.read_bytes() == first
    counts = build_store([out, RAW], out, problems=ProblemLog(strict=True))  # named: read, then replaced
    assert counts["duplicates"] == 3 and StrokeStore.load(out).n_drawings == 5


def test_interrupted_build_leaves_nothing(tmp_path, bundled):
    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_store([bundled.path], tmp_path / "x.qds", problems=ProblemLog(), progress=interrupt)
    assert os.listdir(tmp_path) == []


def test_open_strokes(tmp_path, bundled):
    assert open_strokes(None).path == bundled.path
    assert open_strokes([]).n_drawings == 8600
    assert open_strokes([bundled.path]).path == bundled.path
    built = open_strokes([SIMPLIFIED, RAW])
    assert built.n_drawings == 5 and isinstance(built.points, np.memmap)
    ants = open_strokes(None, categories=["ant"])
    assert ants.categories == ("ant",) and ants.n_drawings == 25
    with pytest.raises(InputError, match="no such"):
        open_strokes([tmp_path / "nothing.ndjson"], problems=ProblemLog(strict=True))


def test_binary_and_sketchrnn_sources_via_formats(tmp_path):
    formats = pytest.importorskip("qdimd.strokes.formats")
    drawings = fixture_drawings()
    (tmp_path / "bin").mkdir()
    for d in drawings:  # these formats take the word from the file name: one file per category
        formats.write_binary(tmp_path / "bin" / f"{d.word}.bin", [d])
    formats.write_sketchrnn(tmp_path / "ant.npz", [d for d in drawings if d.word == "ant"])
    out = tmp_path / "b.qds"
    counts = build_store([tmp_path / "bin", tmp_path / "ant.npz"], out, problems=ProblemLog(strict=True))
    assert counts["drawings"] == 6 and counts["files"] == 6
    store = StrokeStore.load(out)
    assert store.categories == tuple(sorted(d.word for d in drawings))
    by_key = {int(k): d for d, k in enumerate(store.key_ids)}
    for d in drawings:
        back = store.drawing(by_key[d.key_id])
        assert back.word == d.word and [s.tolist() for s in back.strokes] == [s.tolist() for s in d.strokes]
    ant_npz = store.drawing(store.n_drawings - 1)
    assert ant_npz.word == "ant" and ant_npz.key_id >= 2**63  # sketch-rnn files carry no key_id


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=20), max_size=12))
def test_keyset_matches_a_python_set(batches):
    keys, seen = _KeySet(), set()
    for batch in batches:
        arr = np.array(batch, dtype=np.uint64)
        np.testing.assert_array_equal(keys.contains(arr), [k in seen for k in batch])
        keys.add(arr)
        seen |= set(batch)
