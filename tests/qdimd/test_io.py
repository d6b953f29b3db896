"""qdimd.io (mask files, atomic writes) and qdimd.errors (the bad-input report)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from qdimd.errors import InputError, ProblemLog
from qdimd.io import atomic_open, atomic_write_bytes, hole_from_gray, hole_to_gray, load_gray


def test_atomic_write_replaces_and_honours_the_umask(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"complete")
    with pytest.raises(error):
        with atomic_open(path) as f:
            f.write(b"half")
            raise error()
    assert path.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_load_gray_reads_any_channels_and_names_bad_files(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[1, 2] = 255
    Image.fromarray(rgb).save(tmp_path / "m.png")
    gray = load_gray(tmp_path / "m.png")
    assert gray.shape == (4, 5) and gray[1, 2] == 255 and gray.sum() == 255
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="junk.png: not a readable image"):
        load_gray(tmp_path / "junk.png")
    with pytest.raises(InputError, match="missing.png: no such file"):
        load_gray(tmp_path / "missing.png")


@given(arrays(np.uint8, (6, 7)))
def test_polarity_round_trip_and_threshold(gray):
    white = gray >= 128
    assert (hole_from_gray(gray, 255) == white).all()
    assert (hole_from_gray(gray, 0) == ~white).all()
    for value in (255, 0):
        assert (hole_from_gray(hole_to_gray(white, value), value) == white).all()


def test_bad_hole_value_is_rejected():
    with pytest.raises(ValueError, match="Expected hole_value 255 or 0, got 1"):
        hole_from_gray(np.zeros((2, 2), np.uint8), 1)


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.integers(1, 999)), min_size=1, max_size=30))
def test_problem_log_counts_and_places(records):
    log = ProblemLog()
    for path, line in records:
        log.add(path, line, "malformed line")
    summary = log.summary(limit=5)
    assert len(log) == len(records)
    assert summary.startswith(f"skipped {len(records)} bad record(s):")
    assert f"{records[0][0]}:{records[0][1]}: malformed line" in summary
    assert ("more" in summary) == (len(records) > 5)


def test_strict_problem_log_raises_at_the_first():
    log = ProblemLog(strict=True)
    with pytest.raises(InputError, match=r"cat.ndjson:3: x and y lengths differ \(strict mode"):
        log.add("cat.ndjson", 3, "x and y lengths differ")


def test_fsync_write_calls_fsync(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    atomic_write_bytes(tmp_path / "plain", b"x")
    assert calls == []
    atomic_write_bytes(tmp_path / "ckpt", b"y", fsync=True)
    assert len(calls) == 1 and (tmp_path / "ckpt").read_bytes() == b"y"
