"""qdimd.strokes.formats: Quick, Draw! binary ``.bin`` and sketch-rnn ``.npz``, built from real drawings."""
from __future__ import annotations

import dataclasses
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdimd.errors import InputError, ProblemLog
from qdimd.strokes.formats import (read_binary, read_sketchrnn, stroke3_to_strokes, strokes_to_stroke3, write_binary,
                           write_sketchrnn)
from qdimd.strokes.store import load_default_store
from qdimd.strokes.builder import open_strokes


@pytest.fixture(scope="module")
def real() -> dict[str, list]:
    """12 real drawings each of three categories from the bundled Quick, Draw! sample."""
    store = load_default_store()
    return {c: [store.drawing(int(d)) for d in store.drawing_pool(categories=[c])[:12]]
            for c in ("cat", "hot air balloon", "The Mona Lisa")}


def same_strokes(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def at_origin(strokes):
    """Strokes shifted so the drawing's minimum x and y are 0 (what sketch-rnn files keep)."""
    low = np.concatenate(strokes).min(axis=0)
    return tuple(s - low for s in strokes)


def documented_record(d, timestamp: int) -> bytes:
    """One drawing packed by hand, field by field, as the dataset README documents the format."""
    out = d.key_id.to_bytes(8, "little") + d.countrycode.encode().ljust(2, b"\0") + bytes([d.recognized])
    out += timestamp.to_bytes(4, "little") + len(d.strokes).to_bytes(2, "little")
    for s in d.strokes:
        xy = s.astype(np.uint8)
        out += len(s).to_bytes(2, "little") + xy[:, 0].tobytes() + xy[:, 1].tobytes()
    return out


# ----------------------------------------------------------------------------------------- binary


def test_binary_round_trip_of_real_drawings(real, tmp_path):
    for category, drawings in real.items():
        path = tmp_path / f"{category}.bin"
        drawings = [dataclasses.replace(d, countrycode="GB", recognized=i % 3 > 0) for i, d in enumerate(drawings)]
        write_binary(path, drawings)
        problems = ProblemLog()
        back = list(read_binary(path, problems=problems))
        assert len(problems) == 0 and len(back) == len(drawings)
        for a, b in zip(drawings, back):
            assert b.word == category and b.key_id == a.key_id and b.recognized == a.recognized
            assert b.countrycode == "GB" and same_strokes(a.strokes, b.strokes)


def test_binary_bytes_follow_the_documented_layout(real, tmp_path):
    # 1488400896 = datetime(2017, 3, 1, 20, 41, 36, tzinfo=utc).timestamp(), the README's example time
    d = dataclasses.replace(real["cat"][0], countrycode="AE", timestamp="2017-03-01 20:41:36.70725 UTC")
    write_binary(tmp_path / "cat.bin", [d, dataclasses.replace(d, countrycode="", timestamp="")])
    assert (tmp_path / "cat.bin").read_bytes() == documented_record(d, 1488400896) + documented_record(
        dataclasses.replace(d, countrycode=""), 0)
    first, second = read_binary(tmp_path / "cat.bin", problems=ProblemLog())
    assert (first.timestamp, first.countrycode, second.timestamp, second.countrycode) == ("1488400896", "AE", "0", "")


@pytest.mark.parametrize("cut", [1, 16, 18, 40])
def test_truncated_binary_keeps_whole_records_and_reports_the_rest(real, tmp_path, cut):
    path = tmp_path / "cat.bin"
    write_binary(path, real["cat"][:5])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - len(documented_record(real["cat"][4], 0)) + cut])
    problems = ProblemLog()
    back = list(read_binary(path, problems=problems))
    assert [d.key_id for d in back] == [d.key_id for d in real["cat"][:4]]
    assert len(problems) == 1 and problems.problems[0].line == 5 and "truncated record" in str(problems.problems[0])
    with pytest.raises(InputError, match=r"cat\.bin:5: truncated"):
        list(read_binary(path, problems=ProblemLog(strict=True)))


def test_binary_record_without_points_is_skipped(real, tmp_path):
    path = tmp_path / "cat.bin"
    empty = struct.pack("<Q2sBIH", 7, b"US", 1, 0, 1) + struct.pack("<H", 0)  # one stroke of 0 points
    write_binary(path, real["cat"][:1])
    path.write_bytes(empty + path.read_bytes())
    problems = ProblemLog()
    back = list(read_binary(path, problems=problems))
    assert [d.key_id for d in back] == [real["cat"][0].key_id]
    assert str(problems.problems[0]).endswith("cat.bin:1: no points in any stroke")


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: p.write_bytes(b'{"word": "cat", "countrycode": "US", "drawing": [[[0, 1], [0, 1]]]}\n'),
     "cat.bin:1: not a Quick, Draw! binary record"),  # an ndjson file under a .bin name
])
def test_unreadable_binary_files_are_reported(tmp_path, make, reason):
    path = tmp_path / "cat.bin"
    make(path)
    problems = ProblemLog()
    assert list(read_binary(path, problems=problems)) == []
    assert reason in str(problems.problems[0])


def test_write_binary_rejects_out_of_range_coordinates(real, tmp_path):
    bad = dataclasses.replace(real["cat"][0], strokes=(np.array([[0.0, 0.0], [300.0, 10.0]]),))
    with pytest.raises(ValueError, match="Expected coordinates in 0..255"):
        write_binary(tmp_path / "cat.bin", [bad])
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# --------------------------------------------------------------------------------------- sketch-rnn


def test_sketchrnn_round_trip_of_real_drawings(real, tmp_path):
    drawings = real["hot air balloon"]
    path = tmp_path / "hot air balloon.npz"
    write_sketchrnn(path, {"train": drawings[:8], "valid": drawings[8:10], "test": drawings[10:]})
    problems = ProblemLog()
    back = list(read_sketchrnn(path, problems=problems))
    assert len(problems) == 0 and len(back) == len(drawings)
    for a, b in zip(drawings, back):
        assert b.word == "hot air balloon" and same_strokes(at_origin(a.strokes), b.strokes)
    keys = [d.key_id for d in back]
    assert len(set(keys)) == len(keys) and min(keys) >= 2**63
    assert keys == [d.key_id for d in read_sketchrnn(path, problems=problems)]  # deterministic
    test_only = list(read_sketchrnn(path, problems=problems, parts=("test",)))
    assert [d.key_id for d in test_only] == keys[10:]


def test_sketchrnn_file_is_what_numpy_and_sketch_rnn_expect(real, tmp_path):
    write_sketchrnn(tmp_path / "cat.npz", real["cat"])
    with np.load(tmp_path / "cat.npz", allow_pickle=True, encoding="latin1") as z:
        assert sorted(z.files) == ["test", "train", "valid"] and len(z["valid"]) == 0
        rows = z["train"][0]
    first = real["cat"][0].strokes
    assert rows.dtype == np.int16 and rows.shape == (sum(map(len, first)), 3)
    assert np.array_equal(np.cumsum(rows[:, :2], axis=0), np.concatenate(first))  # row 0 is the first point
    assert np.flatnonzero(rows[:, 2]).tolist() == (np.cumsum([len(s) for s in first]) - 1).tolist()


def test_stroke3_offsets_become_positions_in_0_255():
    # a first offset of (0, 0) and a negative excursion, as in files whose positions start at the first point
    rows = np.array([[0, 0, 0], [10, -20, 1], [-30, 5, 0], [0, 0, 1], [600, 0, 1]], dtype=np.int16)
    strokes = stroke3_to_strokes(rows[:4])
    assert [s.tolist() for s in strokes] == [[[20, 20], [30, 0]], [[0, 5], [0, 5]]]  # positions (0,0) (10,-20) (-20,-15) x2
    wide = stroke3_to_strokes(rows)  # spans 630 px: scaled down uniformly to 0..255
    assert np.concatenate(wide).max() == 255 and np.concatenate(wide).min() == 0
    assert len(wide) == 3 and len(wide[2]) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), min_size=1, max_size=8),
                min_size=1, max_size=6))
def test_stroke3_round_trip(strokes):
    strokes = tuple(np.array(s, dtype=np.float64) for s in strokes)
    assert same_strokes(stroke3_to_strokes(strokes_to_stroke3(strokes)), at_origin(strokes))


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def objects(*items) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


class Hostile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("content, reason", [
    (b"", "not a readable .npz"),
    (b"PK\x03\x04 truncated zip", "not a readable .npz"),
    (npz_bytes(x=np.zeros(3)), "not a sketch-rnn file"),
])
def test_corrupt_sketchrnn_files_are_reported(tmp_path, content, reason):
    path = tmp_path / "cat.npz"
    path.write_bytes(content)
    problems = ProblemLog()
    assert list(read_sketchrnn(path, problems=problems)) == []
    assert reason in str(problems.problems[0])
    with pytest.raises(InputError, match=r"cat\.npz: "):
        list(read_sketchrnn(path, problems=ProblemLog(strict=True)))


def test_bad_parts_and_records_are_reported_and_the_rest_read(tmp_path):
    good = np.array([[5, 5, 0], [1, 1, 1]], dtype=np.int16)
    path = tmp_path / "cat.npz"
    path.write_bytes(npz_bytes(train=objects(good, np.zeros((2, 2), np.int16), good), valid=np.zeros(4, np.uint8)))
    problems = ProblemLog()
    back = list(read_sketchrnn(path, problems=problems))
    assert len(back) == 2 and [p.line for p in problems.problems] == [2, None, None]
    text = problems.summary()
    assert "cat.npz:2: train[1]: Expected (n >= 1, 3)" in text and "no 'test' array" in text and "'valid'" in text


def test_truncated_npz_member_is_reported(real, tmp_path):
    path = tmp_path / "cat.npz"
    write_sketchrnn(path, real["cat"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    problems = ProblemLog()
    assert list(read_sketchrnn(path, problems=problems)) == []
    assert "cat.npz" in str(problems.problems[0])


def test_npz_pickles_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        npy = io.BytesIO()
        np.lib.format.write_array_header_1_0(npy, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        z.writestr("train.npy", npy.getvalue() + pickle.dumps(np.array([Hostile(marker)], dtype=object)))
    (tmp_path / "cat.npz").write_bytes(buf.getvalue())
    problems = ProblemLog()
    assert list(read_sketchrnn(tmp_path / "cat.npz", problems=problems, parts=("train",))) == []
    assert not marker.exists() and "refusing to load" in str(problems.problems[0])


# ---------------------------------------------------------------------------------------- the store


def test_store_builds_from_bin_and_npz(real, tmp_path):
    write_binary(tmp_path / "cat.bin", real["cat"])
    write_sketchrnn(tmp_path / "The Mona Lisa.npz", real["The Mona Lisa"])
    store = open_strokes([tmp_path / "cat.bin", tmp_path / "The Mona Lisa.npz"])
    assert store.n_drawings == 24 and set(store.categories) == {"cat", "The Mona Lisa"}
    assert store.n_points == sum(len(s) for c in ("cat", "The Mona Lisa") for d in real[c] for s in d.strokes)
