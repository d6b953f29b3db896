"""Caps on one record (points, strokes, line bytes) in every stroke reader, and tampered stores."""
from __future__ import annotations

import gzip

import numpy as np
import orjson
import pytest

from qdimd.errors import InputError, ProblemLog
from qdimd.strokes import ndjson
from qdimd.strokes.builder import build_store
from qdimd.strokes.formats import read_binary, read_sketchrnn, write_binary, write_sketchrnn
from qdimd.strokes.ndjson import MAX_POINTS, MAX_STROKES, Drawing, iter_records
from qdimd.strokes.store import StrokeStore


def line(n_points: int, n_strokes: int = 1, key: int = 1) -> bytes:
    per = n_points // n_strokes
    strokes = [[[i % 256 for i in range(per)], [(7 * i) % 256 for i in range(per)]] for _ in range(n_strokes)]
    return orjson.dumps({"word": "cat", "key_id": str(key), "recognized": True, "drawing": strokes}) + b"\n"


def drawing(n_points: int, n_strokes: int = 1, key: int = 1) -> Drawing:
    per = n_points // n_strokes
    stroke = np.stack([np.arange(per) % 256, (7 * np.arange(per)) % 256], axis=1).astype(np.float64)
    return Drawing("cat", "", "", True, key, tuple(stroke for _ in range(n_strokes)))


@pytest.mark.parametrize("suffix", [".ndjson", ".ndjson.gz"])
def test_ndjson_record_over_the_point_cap_is_skipped_and_reported(tmp_path, suffix):
    path = tmp_path / f"cat{suffix}"
    data = line(10, key=1) + line(MAX_POINTS + 1, key=2) + line(MAX_STROKES + 1, MAX_STROKES + 1, key=3) + line(5, key=4)
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    problems = ProblemLog()
    keys = [r.key_id for r in iter_records(path, problems=problems)]
    assert keys == [1, 4]
    reasons = [(p.line, p.reason) for p in problems.problems]
    assert reasons[0][0] == 2 and f"{MAX_POINTS + 1:,} points" in reasons[0][1] and "MAX_POINTS" in reasons[0][1]
    assert reasons[1][0] == 3 and "strokes" in reasons[1][1] and "MAX_STROKES" in reasons[1][1]


def test_ndjson_line_over_the_byte_cap_is_skipped_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(ndjson, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "cat.ndjson"
    path.write_bytes(line(10, key=1) + b'{"word": "cat", "drawing": [' + b"1," * 5000 + b"]}\n" + line(10, key=3))
    problems = ProblemLog()
    assert [r.key_id for r in iter_records(path, problems=problems)] == [1, 3]
    assert problems.problems[0].line == 2 and "longer than 1,000 bytes" in problems.problems[0].reason


def test_strict_mode_stops_at_a_huge_record(tmp_path):
    path = tmp_path / "cat.ndjson"
    path.write_bytes(line(MAX_POINTS + 1))
    with pytest.raises(InputError, match="drawing too large"):
        list(iter_records(path, problems=ProblemLog(strict=True)))


def test_binary_record_over_the_caps_is_skipped_and_the_next_read(tmp_path):
    path = tmp_path / "cat.bin"
    write_binary(path, [drawing(10, key=1), drawing(MAX_POINTS + 4, 4, key=2), drawing(MAX_STROKES + 1, MAX_STROKES + 1, key=3),
                        drawing(6, key=4)])
    problems = ProblemLog()
    assert [d.key_id for d in read_binary(path, problems=problems)] == [1, 4]
    assert [p.line for p in problems.problems] == [2, 3]
    assert "points" in problems.problems[0].reason and "strokes" in problems.problems[1].reason


def test_sketchrnn_record_over_the_caps_is_skipped(tmp_path):
    path = tmp_path / "cat.npz"
    write_sketchrnn(path, [drawing(10), drawing(MAX_POINTS + 1), drawing(MAX_STROKES + 1, MAX_STROKES + 1), drawing(7)])
    problems = ProblemLog()
    assert [sum(map(len, d.strokes)) for d in read_sketchrnn(path, problems=problems)] == [10, 7]
    assert len(problems) == 2 and "drawing too large" in problems.problems[0].reason


def test_store_source_with_a_huge_drawing_is_merged_without_it(tmp_path):
    big = tmp_path / "big.qds"
    StrokeStore.from_drawings([drawing(10, key=1), drawing(MAX_POINTS + 2, 2, key=2)]).save(big)
    with pytest.raises(InputError, match=r"drawing too large .* at position 1 \(rebuild it with `qdimd index`\)") as info:
        StrokeStore.load(big)   # used directly: a clear error naming the file and the remedy
    assert str(big) in str(info.value)
    problems = ProblemLog()
    counts = build_store([big], tmp_path / "clean.qds", problems=problems)
    assert counts["drawings"] == 1 and problems.problems[0].line == 2
    assert StrokeStore.load(tmp_path / "clean.qds").key_ids.tolist() == [1]


def tampered(tmp_path, name: str, index: int, value) -> str:
    path = tmp_path / "s.qds"
    StrokeStore.from_drawings([drawing(10, 2, key=1), drawing(8, 2, key=2), drawing(6, key=3)]).save(path)
    data = bytearray(path.read_bytes())
    header = orjson.loads(data[16:16 + int.from_bytes(data[8:16], "little")])
    offset = header["arrays"][name]["offset"] + index * value.itemsize
    data[offset:offset + np.dtype(type(value)).itemsize] = value.tobytes()
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("name, index, value, message", [
    ("stroke_starts", 2, np.int64(-5), "stroke_starts not increasing"),
    ("stroke_starts", 1, np.int64(20), "stroke_starts not increasing"),
    ("drawing_starts", 1, np.int64(0), "drawing_starts not increasing"),
    ("drawing_category", 1, np.int16(9), "category id 9 of 1 categories at position 1"),
    ("drawing_category", 0, np.int16(-1), "category id -1"),
])
def test_tampered_offsets_fail_at_open_naming_the_file(tmp_path, name, index, value, message):
    path = tampered(tmp_path, name, index, value)
    with pytest.raises(InputError, match=message) as info:
        StrokeStore.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("field, value", [("offset", -64), ("offset", 0), ("shape", [-3, 2])])
def test_tampered_header_extents_are_corrupt(tmp_path, field, value):
    path = tmp_path / "s.qds"
    StrokeStore.from_drawings([drawing(10, key=1)]).save(path)
    data = path.read_bytes()
    size = int.from_bytes(data[8:16], "little")
    header = orjson.loads(data[16:16 + size])
    header["arrays"]["points"][field] = value
    head = orjson.dumps(header)
    path.write_bytes(data[:8] + len(head).to_bytes(8, "little") + head + data[16 + size:])
    with pytest.raises(InputError, match="corrupt or truncated stroke store header|truncated|inconsistent"):
        StrokeStore.load(path)


def test_store_drawing_rejects_an_id_out_of_range(tmp_path):
    store = StrokeStore.from_drawings([drawing(10, key=1)])
    with pytest.raises(IndexError, match="Expected a drawing id in 0..0, got 1"):
        store.drawing(1)


def test_long_strokes_render_in_pieces_with_the_same_shape(monkeypatch):
    pytest.importorskip("cairocffi")
    from qdimd.masks.render import CairoCanvas

    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(0, 2, (3 * CairoCanvas.PIECE, 2)), axis=0) % 256  # self-crossing, like a hostile record
    canvas = CairoCanvas((128, 128))
    pieces = canvas.draw(walk / 2, np.array([len(walk)]), np.array([5.0])).copy()
    monkeypatch.setattr(CairoCanvas, "PIECE", 10**9)
    whole = canvas.draw(walk / 2, np.array([len(walk)]), np.array([5.0]))
    assert 0.05 < pieces.mean() / 255 < 0.95
    assert np.mean(pieces != whole) < 0.002  # 16 of 16,384 px: cairo's whole-path stroking of self-crossings
