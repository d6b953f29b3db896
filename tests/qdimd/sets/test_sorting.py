"""Tests for qdimd.sets.sorting and qdimd.files.maskfiles (``qdimd bucket --from``): any masks, bad files, polarity."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from qdimd.errors import InputError, ProblemLog
from qdimd.files.maskfiles import decide_hole_value, decode_gray
from qdimd.sets.sorting import sort_masks

from helpers import nvidia_style_folder, read_manifest, rect_hole, save_gray


def test_nvidia_style_masks_land_in_nvidia_groups(tmp_path):
    src = nvidia_style_folder(tmp_path / "nvidia", per_group=2)
    report = sort_masks(src, tmp_path / "out", problems=ProblemLog(strict=True))
    assert len(report.rows) == 24
    assert list(report.hole_values.values()) == [255]
    for row in report.rows:
        number = int(Path(row.source).stem)
        assert row.bucket == number // 2000 + 1
        assert row.group == ("noborder" if number % 2000 < 1000 else "border")
        assert row.margin == 50
        assert (tmp_path / "out" / row.file).read_bytes() == Path(row.source).read_bytes()
    rows = read_manifest(tmp_path / "out")
    assert {"file", "source", "hole_ratio", "border_distance", "bucket", "group"} <= set(rows[0])
    assert (tmp_path / "out" / "README.md").read_text().count("noborder") >= 6


def test_black_holes_auto_detected_and_said(tmp_path):
    src = tmp_path / "qdimd_style"
    for i, ratio in enumerate([0.05, 0.15, 0.25, 0.55]):
        save_gray(src / f"{i:05d}_train.png", np.where(rect_hole(64, ratio, 0), 0, 255).astype(np.uint8))
    report = sort_masks(src, tmp_path / "out", problems=ProblemLog())
    assert report.hole_values == {str(src): 0}
    assert "black (0)" in report.decided[str(src)] and "4 of 4" in report.decided[str(src)]
    assert [r.bucket for r in report.rows] == [1, 2, 3, 6]


def test_forced_polarity_inverts_ratio(tmp_path):
    src = tmp_path / "m"
    save_gray(src / "a.png", rect_hole(100, 0.25, 0).astype(np.uint8) * 255)
    white = sort_masks(src, tmp_path / "w", hole_value=255, problems=ProblemLog()).rows[0]
    black = sort_masks(src, tmp_path / "b", hole_value=0, problems=ProblemLog()).rows[0]
    assert white.hole_ratio == pytest.approx(1 - black.hole_ratio)
    assert (white.bucket, black.bucket) == (3, 0)


def test_bad_files_are_reported_and_skipped(tmp_path, photo_dir):
    src = tmp_path / "mixed"
    save_gray(src / "good.png", rect_hole(128, 0.15, 20).astype(np.uint8) * 255)
    (src / "notes.png").write_text("this is not an image")
    (src / "empty.png").write_bytes(b"")
    rgb = np.repeat((rect_hole(128, 0.35, 0).astype(np.uint8) * 255)[:, :, None], 3, axis=2)
    Image.fromarray(rgb).save(src / "rgb_mask.jpg", quality=75)  # 3-channel JPEG: grey edges
    photo = sorted(photo_dir.glob("*.jpg"))[0]
    (src / "photo.png").write_bytes(photo.read_bytes())
    (src / "README.txt").write_text("ignored: not an image suffix")
    problems = ProblemLog()
    report = sort_masks(src, tmp_path / "out", problems=problems)
    assert sorted(Path(r.source).name for r in report.rows) == ["good.png", "rgb_mask.jpg"]
    reasons = {Path(p.path).name: p.reason for p in problems.problems}
    assert set(reasons) == {"notes.png", "empty.png", "photo.png"}
    assert "empty file" in reasons["empty.png"] and "not a readable image" in reasons["notes.png"]
    assert "not a mask" in reasons["photo.png"]
    jpeg = next(r for r in report.rows if r.source.endswith(".jpg"))
    assert jpeg.bucket == 4 and jpeg.group == "border"
    with pytest.raises(InputError, match="empty.png: empty file"):  # sorted order: empty.png first
        sort_masks(src, tmp_path / "strict", problems=ProblemLog(strict=True))


def test_inputs_are_never_modified_and_link_mode(tmp_path):
    src = nvidia_style_folder(tmp_path / "nv")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in src.iterdir()}
    report = sort_masks(src, tmp_path / "linked", link=True, problems=ProblemLog())
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in src.iterdir()}
    assert before == after
    first = tmp_path / "linked" / report.rows[0].file
    assert first.is_symlink() and os.path.samefile(first, report.rows[0].source)


def test_tar_shards_are_read(tmp_path):
    src = tmp_path / "shards"
    src.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i, ratio in enumerate([0.05, 0.45]):
            data = io.BytesIO()
            Image.fromarray(rect_hole(64, ratio, 0).astype(np.uint8) * 255).save(data, format="PNG")
            info = tarfile.TarInfo(f"{i:08d}.png")
            info.size = len(data.getvalue())
            tar.addfile(info, io.BytesIO(data.getvalue()))
    (src / "shard-000000.tar").write_bytes(buffer.getvalue())
    (src / "shard-000001.tar").write_bytes(b"not a tar")
    problems = ProblemLog()
    report = sort_masks(src, tmp_path / "out", problems=problems)
    assert [(r.source.split(":")[1], r.bucket) for r in report.rows] == [("00000000.png", 1), ("00000001.png", 5)]
    assert (tmp_path / "out" / "1/border/shard-000000__00000000.png").is_file()
    assert len(problems) == 1 and "shard-000001.tar" in problems.problems[0].path


masks_strategy = st.lists(
    st.tuples(st.floats(0.0, 0.7), st.integers(0, 20), st.booleans()), min_size=1, max_size=6,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(masks=masks_strategy)
def test_sorting_twice_gives_identical_layouts(tmp_path_factory, masks):
    root = tmp_path_factory.mktemp("twice")
    src = root / "src"
    for i, (ratio, distance, jpeg) in enumerate(masks):
        gray = rect_hole(80, ratio, distance).astype(np.uint8) * 255
        save_gray(src / "sub" / f"m{i}.{'jpg' if jpeg else 'png'}", gray, **({"quality": 90} if jpeg else {}))
    outs = []
    for name in ("a", "b"):
        sort_masks(src, root / name, hole_value=255, problems=ProblemLog())
        outs.append({p.relative_to(root / name).as_posix(): p.read_bytes() for p in (root / name).rglob("*") if p.is_file()})
    assert outs[0] == outs[1]
    assert sum(1 for k in outs[0] if k.endswith((".png", ".jpg"))) == len(masks)


def test_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        sort_masks(tmp_path / "missing", tmp_path / "out", problems=ProblemLog())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no readable mask"):
        sort_masks(tmp_path / "empty", tmp_path / "out", problems=ProblemLog())
    with pytest.raises(InputError, match="must differ"):
        sort_masks(tmp_path / "empty", tmp_path / "empty", problems=ProblemLog())
    with pytest.raises(ValueError, match="Expected hole_value"):
        sort_masks(tmp_path / "empty", tmp_path / "out", hole_value=128, problems=ProblemLog())


def test_output_inside_input_is_skipped(tmp_path):
    src = nvidia_style_folder(tmp_path / "nv")
    sort_masks(src, src / "sorted", problems=ProblemLog())
    report = sort_masks(src, src / "sorted", problems=ProblemLog())
    assert len(report.rows) == 12


def test_decide_hole_value_and_decode():
    # frame votes win over area: a 60% white mask with a black frame has white holes
    assert decide_hole_value([0.0, 0.4, 0.6], [0.6, 0.55, 0.2]) == 255
    assert decide_hole_value([1.0, 0.9, 0.3], [0.4, 0.5, 0.1]) == 0
    assert decide_hole_value([0.5, 0.5], [0.7, 0.8]) == 0  # split frames: minority colour by area
    assert decide_hole_value([], []) == 255
    gray = np.zeros((8, 8), np.uint8)
    ok, png = cv2.imencode(".png", gray)
    assert decode_gray(png.tobytes(), "x").shape == (8, 8)
    with pytest.raises(InputError, match="empty file"):
        decode_gray(b"", "x.png")


def test_rerun_into_an_earlier_sort_replaces_its_copies(tmp_path):
    src = nvidia_style_folder(tmp_path / "nv")
    fresh, reused = tmp_path / "fresh", tmp_path / "reused"
    sort_masks(src, reused, hole_value=255, problems=ProblemLog())
    sort_masks(src, reused, hole_value=0, problems=ProblemLog())  # other buckets: the old copies must go
    sort_masks(src, fresh, hole_value=0, problems=ProblemLog())
    # an interrupted earlier sort: config.json written, copies partly made, no manifest yet
    interrupted = tmp_path / "interrupted"
    sort_masks(src, interrupted, hole_value=255, problems=ProblemLog())
    (interrupted / "manifest.csv").unlink()
    (interrupted / "1" / "border" / ".00003.png.0123456789ab.tmp").write_bytes(b"half")
    sort_masks(src, interrupted, hole_value=0, problems=ProblemLog())
    files = lambda root: sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))  # noqa: E731
    assert files(reused) == files(fresh) == files(interrupted)
    assert len(list(src.iterdir())) == 12  # the inputs are untouched


def test_foreign_output_folder_and_input_inside_an_earlier_sort_are_refused(tmp_path):
    src = nvidia_style_folder(tmp_path / "nv")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        sort_masks(src, busy, problems=ProblemLog())
    assert (busy / "keep.txt").read_text() == "mine"
    sort_masks(src, tmp_path / "out", problems=ProblemLog())
    with pytest.raises(InputError, match="holds the input --from"):
        sort_masks(tmp_path / "out" / "1", tmp_path / "out", problems=ProblemLog())
    assert len(read_manifest(tmp_path / "out")) == 12


def test_no_readable_mask_error_lists_the_skipped_files(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "empty.png").write_bytes(b"")
    (tmp_path / "junk" / "fake.png").write_text("not a png")
    with pytest.raises(InputError, match="no readable mask") as info:
        sort_masks(tmp_path / "junk", tmp_path / "out", problems=ProblemLog())
    message = str(info.value)
    assert "empty.png: empty file" in message
    assert "fake.png: not a readable image (unknown or corrupt format)" in message and "BytesIO" not in message


def test_rerun_removes_only_its_own_copies(tmp_path):
    """A user's file in OUT/<bucket>/<group>/ survives a rerun; a group folder linked out of OUT is never
    followed (its files outside stay), and a copy that would replace a user's file is refused before any work."""
    src = nvidia_style_folder(tmp_path / "nv")
    out = tmp_path / "out"
    sort_masks(src, out, hole_value=255, problems=ProblemLog())
    cell = out / read_manifest(out)[0]["file"].rsplit("/", 1)[0]
    (cell / "my-notes.txt").write_text("mine")
    (cell / "zz-my-mask.png").write_bytes((src / os.listdir(src)[0]).read_bytes())
    sort_masks(src, out, hole_value=0, problems=ProblemLog())
    assert (cell / "my-notes.txt").read_text() == "mine" and (cell / "zz-my-mask.png").exists()
    # a group folder replaced by a link to a folder outside OUT
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.png").write_bytes(b"keep me")
    target = out / read_manifest(out)[0]["file"].rsplit("/", 1)[0]
    for name in os.listdir(target):
        (outside / name).write_bytes((target / name).read_bytes())
        (target / name).unlink()
    target.rmdir()
    target.symlink_to(outside, target_is_directory=True)
    before = sorted(os.listdir(outside))
    with pytest.raises(InputError, match="symbolic link"):
        sort_masks(src, out, hole_value=0, problems=ProblemLog())
    assert sorted(os.listdir(outside)) == before and (outside / "precious.png").read_bytes() == b"keep me"
    # a user's file under the name of a copy the new sort writes
    other, fresh = tmp_path / "other", tmp_path / "fresh"
    sort_masks(src, other, hole_value=255, problems=ProblemLog())
    sort_masks(src, fresh, hole_value=0, problems=ProblemLog())
    new_names = sorted({r["file"] for r in read_manifest(fresh)} - {r["file"] for r in read_manifest(other)})
    manifest = (other / "manifest.csv").read_bytes()
    mine = other / new_names[0]
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_bytes(b"user data")
    with pytest.raises(InputError, match="not written by qdimd bucket"):
        sort_masks(src, other, hole_value=0, problems=ProblemLog())
    assert mine.read_bytes() == b"user data" and (other / "manifest.csv").read_bytes() == manifest


def test_manifest_naming_a_file_outside_is_not_deleted(tmp_path):
    src = nvidia_style_folder(tmp_path / "nv")
    out = tmp_path / "out"
    sort_masks(src, out, problems=ProblemLog())
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"x")
    text = (out / "manifest.csv").read_text()
    (out / "manifest.csv").write_text(text + f"{victim},x,255,64,64,0.1,0,25,1,border\n")
    with pytest.raises(InputError, match="expected a relative path"):
        sort_masks(src, out, problems=ProblemLog())
    assert victim.exists()


def test_a_name_with_a_newline_never_names_another_file(tmp_path):
    src = tmp_path / "src"
    save_gray(src / "x\nnotes.png", rect_hole(64, 0.2, 10).astype(np.uint8) * 255)
    out = tmp_path / "out"
    sort_masks(src, out, problems=ProblemLog())
    (out / "notes.png").write_bytes(b"mine")
    sort_masks(src, out, problems=ProblemLog())
    assert (out / "notes.png").read_bytes() == b"mine" and len(read_manifest(out)) == 1
