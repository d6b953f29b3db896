"""Quick, Draw! ndjson reading: both layouts, .gz, filters, raw normalisation, RDP, bad input."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qdimd.errors import InputError, ProblemLog
from qdimd.strokes.ndjson import Drawing, normalize_raw, parse_record, rdp, read_ndjson

QUICKDRAW = Path(__file__).parents[2] / "data" / "quickdraw"
SIMPLIFIED = QUICKDRAW / "simplified.ndjson"
RAW = QUICKDRAW / "raw.ndjson"
REAL_LINE = SIMPLIFIED.read_bytes().splitlines()[0]


def read(path, **kwargs) -> tuple[list[Drawing], ProblemLog]:
    problems = ProblemLog()
    return list(read_ndjson(path, problems=problems, **kwargs)), problems


def with_drawing(drawing) -> bytes:
    """The first real record with its ``drawing`` replaced."""
    obj = orjson.loads(REAL_LINE)
    obj["drawing"] = drawing
    return orjson.dumps(obj)


def test_simplified_fields_and_strokes():
    drawings, problems = read(SIMPLIFIED)
    assert len(problems) == 0
    assert [d.word for d in drawings] == ["mosquito", "matches", "ant", "streetlight", "mountain"]
    first = drawings[0]
    assert first.key_id == 4949694969020416 and first.countrycode == "US" and first.recognized is False
    assert first.timestamp.endswith("UTC")
    for d in drawings:
        assert isinstance(d.key_id, int) and d.strokes
        for s in d.strokes:
            assert s.dtype == np.float64 and s.ndim == 2 and s.shape[1] == 2 and len(s) >= 1
            assert s.min() >= 0 and s.max() <= 255 and np.array_equal(s, np.rint(s))
    obj = orjson.loads(REAL_LINE)
    np.testing.assert_array_equal(first.strokes[0], np.array(obj["drawing"][0]).T)


def test_single_point_strokes_are_kept():
    drawings, _ = read(SIMPLIFIED)
    streetlight = drawings[3]
    dots = [s for s in streetlight.strokes if len(s) == 2 and (s[0] == s[1]).all()]
    assert dots, "the real streetlight record has a [[x, x], [y, y]] stroke"
    record = parse_record(with_drawing([[[10], [20]], [[1, 2, 3], [4, 5, 6]]]))
    assert record.lengths == [1, 3]
    assert record.to_drawing().strokes[0].tolist() == [[10.0, 20.0]]


def test_gzip_reads_the_same(tmp_path):
    gz = tmp_path / "s.ndjson.gz"
    gz.write_bytes(gzip.compress(SIMPLIFIED.read_bytes()))
    plain, _ = read(SIMPLIFIED)
    packed, problems = read(gz)
    assert len(problems) == 0 and len(packed) == len(plain)
    for a, b in zip(plain, packed):
        assert a.key_id == b.key_id and all(np.array_equal(x, y) for x, y in zip(a.strokes, b.strokes))


def test_raw_is_normalised_top_left_longer_side_255():
    drawings, problems = read(RAW)
    assert len(problems) == 0 and len(drawings) == 3
    raw_objs = [orjson.loads(line) for line in RAW.read_bytes().splitlines()]
    for d, obj in zip(drawings, raw_objs):
        pts = np.concatenate(d.strokes)
        assert pts.min(axis=0).tolist() == [0.0, 0.0]
        assert pts.max() == pytest.approx(255.0)
        assert len(pts) == sum(len(s[0]) for s in obj["drawing"])  # no simplification by default
        canvas = np.concatenate([np.array(s[:2], dtype=float).T for s in obj["drawing"]])
        extent = canvas.max(axis=0) - canvas.min(axis=0)
        np.testing.assert_allclose(pts.max(axis=0), extent * 255.0 / extent.max())


def test_raw_with_rdp_matches_googles_simplified_within_1px():
    raw, _ = read(RAW, simplify_raw=2.0)
    simplified, _ = read(SIMPLIFIED)
    by_key = {d.key_id: d for d in simplified}
    for d in raw:
        ref = by_key[d.key_id]
        assert [len(s) for s in d.strokes] == [len(s) for s in ref.strokes]
        assert np.abs(np.concatenate(d.strokes) - np.concatenate(ref.strokes)).max() <= 1.0


def test_filters(tmp_path):
    drawings, _ = read(SIMPLIFIED, categories=["ant", "mountain", "nonexistent"])
    assert [d.word for d in drawings] == ["ant", "mountain"]
    recognized, _ = read(SIMPLIFIED, recognized_only=True)
    everything, _ = read(SIMPLIFIED)
    assert [d.key_id for d in recognized] == [d.key_id for d in everything if d.recognized]
    assert 0 < len(recognized) < len(everything)


BAD_LINES = {
    "malformed JSON": REAL_LINE[:-20],
    "not an object": b"[1, 2, 3]",
    "x/y length mismatch": with_drawing([[[1, 2, 3], [4, 5]]]),
    "non-numeric string": with_drawing([[[1, "a"], [4, 5]]]),
    "numeric string": with_drawing([[[1, "2"], [4, 5]]]),
    "boolean coordinate": with_drawing([[[1, True], [4, 5]]]),
    "null coordinate": with_drawing([[[1, None], [4, 5]]]),
    "nested coordinate": with_drawing([[[1, [2]], [4, 5]]]),
    "NaN token": with_drawing([[[1, 2], [4, 5]]]).replace(b"[1,2]", b"[1,NaN]"),
    "infinity": with_drawing([[[1, 2], [4, 5]]]).replace(b"[1,2]", b"[1,1e400]"),
    "simplified out of range": with_drawing([[[1, 300], [4, 5]]]),
    "negative simplified": with_drawing([[[-3, 2], [4, 5]]]),
    "absurd raw": with_drawing([[[1, 1e12], [4, 5], [0, 1]]]),
    "mixed layouts": with_drawing([[[1, 2], [4, 5]], [[1, 2], [4, 5], [0, 1]]]),
    "no strokes": with_drawing([]),
    "only empty strokes": with_drawing([[[], []]]),
    "stroke not a list": with_drawing([5]),
    "missing word": REAL_LINE.replace(b'"word":"mosquito",', b""),
    "bad key_id": REAL_LINE.replace(b'"key_id":"4949694969020416"', b'"key_id":"12ab"'),
    "recognized not bool": REAL_LINE.replace(b'"recognized":false', b'"recognized":"no"'),
}


@pytest.mark.parametrize("reason", list(BAD_LINES))
def test_bad_record_skipped_with_file_and_line(tmp_path, reason):
    path = tmp_path / "bad.ndjson"
    lines = SIMPLIFIED.read_bytes().splitlines()
    path.write_bytes(b"\n".join(lines[:2] + [BAD_LINES[reason]] + lines[2:]) + b"\n")
    drawings, problems = read(path)
    assert len(drawings) == 5, reason
    assert len(problems) == 1 and problems.problems[0].line == 3
    assert f"{path}:3" in str(problems.problems[0])


@pytest.mark.parametrize("reason", ["x/y length mismatch", "absurd raw", "malformed JSON"])
def test_bad_record_strict_raises(tmp_path, reason):
    path = tmp_path / "bad.ndjson"
    path.write_bytes(REAL_LINE + b"\n" + BAD_LINES[reason] + b"\n")
    problems = ProblemLog(strict=True)
    got = []
    with pytest.raises(InputError, match="bad.ndjson:2"):
        for d in read_ndjson(path, problems=problems):
            got.append(d)
    assert len(got) == 1  # what came before the bad record was delivered


def test_blank_lines_are_ignored(tmp_path):
    path = tmp_path / "blank.ndjson"
    path.write_bytes(b"\n" + REAL_LINE + b"\n\n  \n")
    drawings, problems = read(path)
    assert len(drawings) == 1 and len(problems) == 0


@pytest.mark.parametrize("name, content, reason", [
    ("empty.ndjson", b"", "empty file"),
    ("blank.ndjson", b"\n  \n\r\n", "empty file"),  # only blank lines: no drawings either
    ("latin1.ndjson", "\u00e9t\u00e9 caf\u00e9\n".encode("latin-1") * 3, "not UTF-8"),
    ("binary.ndjson", bytes(range(256)) * 4, "not UTF-8"),
    ("missing.ndjson", None, "no such file"),
    ("folder.ndjson", "dir", "is a folder"),
    ("notgzip.ndjson.gz", b"plain text, not gzip\n", "cannot read"),
])
def test_bad_files_are_reported_and_strict_raises(tmp_path, name, content, reason):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    drawings, problems = read(path)
    assert drawings == [] and len(problems) == 1
    assert reason in problems.problems[0].reason and problems.problems[0].path == str(path)
    with pytest.raises(InputError, match=reason):
        list(read_ndjson(path, problems=ProblemLog(strict=True)))


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    data = gzip.compress(SIMPLIFIED.read_bytes() * 50)
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(data[: len(data) // 2])
    drawings, problems = read(path)
    assert 0 < len(drawings) < 250
    assert len(problems) == 1 and "unreadable" in problems.problems[0].reason


def test_simplify_raw_rejects_negative_epsilon():
    line = RAW.read_bytes().splitlines()[0]
    with pytest.raises(ValueError, match="Expected simplify_raw"):
        parse_record(line, simplify_raw=-1.0)


def _polyline_distance(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance of each point to the polyline ``poly``."""
    if len(poly) == 1:
        return np.hypot(*(points - poly[0]).T)
    a, b = poly[:-1], poly[1:]
    ab = b - a
    rel = points[:, None, :] - a[None]
    denom = np.maximum((ab ** 2).sum(-1), 1e-12)
    t = np.clip((rel * ab[None]).sum(-1) / denom, 0, 1)
    nearest = a[None] + t[..., None] * ab[None]
    return np.hypot(*(points[:, None, :] - nearest).transpose(2, 0, 1)).min(axis=1)


coords = arrays(np.float64, st.tuples(st.integers(1, 40), st.just(2)), elements=st.floats(0, 255))


@settings(max_examples=60, deadline=None)
@given(points=coords, epsilon=st.floats(0.0, 20.0))
@example(points=np.array([[0.0, 0.0], [5.0, 5.0], [10.0, 0.0]]), epsilon=2.0)
def test_rdp_keeps_endpoints_and_stays_within_epsilon(points, epsilon):
    out = rdp(points, epsilon)
    assert 1 <= len(out) <= len(points)
    assert np.array_equal(out[0], points[0]) and np.array_equal(out[-1], points[-1])
    assert (_polyline_distance(points, out) <= epsilon + 1e-6).all()


@settings(max_examples=60, deadline=None)
@given(points=arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)), elements=st.floats(-3000, 3000)))
def test_normalize_raw_aligns_and_scales(points):
    out = normalize_raw(points)
    assert out.shape == points.shape
    np.testing.assert_allclose(out.min(axis=0), 0.0, atol=1e-9)
    extent = np.ptp(points, axis=0)
    if extent.max() > 0:
        assert out.max() == pytest.approx(255.0)
        np.testing.assert_allclose(np.ptp(out, axis=0), extent * 255.0 / extent.max(), atol=1e-6)
    else:
        assert (out == 0).all()
