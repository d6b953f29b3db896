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
from qdimd.io import (atomic_open, atomic_write_bytes, check_not_input, confined_path, hole_from_gray, hole_to_gray, load_gray,
                      make_own_folder, owned_entry, temp_file_target)


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


def test_check_not_input_same_file_links_and_folders(tmp_path):
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    photos.mkdir(), masks.mkdir()
    (photos / "a.png").write_bytes(b"a")
    (tmp_path / "hard.png").hardlink_to(photos / "a.png")
    (tmp_path / "soft").symlink_to(masks, target_is_directory=True)
    inputs = {"IMAGE": photos, "MASK": [masks, None], "--db": None, "--gone": tmp_path / "missing"}
    for out, message in [(masks, "is the input MASK"), (tmp_path / "soft", "is the input MASK"),
                         (tmp_path / "soft" / "filled", "inside the input MASK"),
                         (photos / "sub" / "new", "inside the input IMAGE"), (tmp_path, "holds the input IMAGE")]:
        with pytest.raises(InputError, match=message):
            check_not_input(out, inputs)
    with pytest.raises(InputError, match="-o .*hard.png is the input CKPT"):
        check_not_input(tmp_path / "hard.png", {"CKPT": photos / "a.png"}, option="-o")
    with pytest.raises(InputError, match="is the input --strokes"):  # a glob of sources
        check_not_input(photos / "a.png", {"--strokes": [str(photos / "*.png")]})
    check_not_input(tmp_path / "out", inputs)
    check_not_input(photos / "db", {"--images": photos}, inside_ok=True)
    check_not_input(tmp_path / "missing", {"X": tmp_path / "missing"})  # nothing there to harm


def test_confined_path_and_owned_entry(tmp_path):
    assert confined_path(tmp_path, "1/border/a.png", "m.csv:2") == tmp_path / "1" / "border" / "a.png"
    for bad in ("/etc/passwd", "../x.png", "1/../../x.png", "", "C:\\x.png", "a\0b"):
        with pytest.raises(InputError, match="m.csv:7: expected a relative path inside"):
            confined_path(tmp_path, bad, "m.csv:7")
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "f.png").write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f.png").write_bytes(b"x")
    (tmp_path / "own" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert owned_entry(tmp_path / "own", tmp_path / "own" / "f.png")
    assert owned_entry(tmp_path / "own", tmp_path / "own" / "link")  # the link itself, never its target
    assert not owned_entry(tmp_path / "own", tmp_path / "own" / "link" / "f.png")
    assert not owned_entry(tmp_path / "own", tmp_path / "elsewhere" / "f.png")
    assert not owned_entry(tmp_path / "own", tmp_path / "own")
    assert temp_file_target(".a.png.0123456789ab.tmp") == "a.png" and temp_file_target(".notes.tmp") is None


def test_make_own_folder_never_goes_through_a_link(tmp_path):
    assert make_own_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "file").write_bytes(b"x")
    for bad in ("link", "file"):
        with pytest.raises(InputError, match="symbolic link or a file"):
            make_own_folder(tmp_path / bad)


def test_atomic_write_to_a_device_or_pipe_writes_into_it_never_replaces_it(tmp_path):
    """``-o /dev/stdout``, ``-o /dev/full`` or a FIFO: written in place (a full device gives its error); the rename
    of the atomic write would replace the device node itself (as root, ``/dev/full`` became a PNG file)."""
    import stat

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        atomic_write_bytes(fifo, b"sheet")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        assert os.read(reader, 100) == b"sheet"
    finally:
        os.close(reader)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_atomic_write_onto_a_folder_names_the_folder_not_the_temporary_file(tmp_path):
    """`inpaint fill IMAGE MASK -o d.png` where d.png is a folder: the error named `.d.png.<hex>.tmp`."""
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InputError, match=r"d\.png: a folder where a file is to be written") as caught:
        atomic_write_bytes(tmp_path / "d.png", b"png")
    assert ".tmp" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_error_names_the_file():
    """`-o /dev/full` (a full disk): `[Errno 28] No space left on device: '/dev/full'`, not an error naming nothing."""
    with pytest.raises(OSError, match="No space left on device: '/dev/full'"):
        atomic_write_bytes("/dev/full", b"x" * 100_000)
