"""``qdimd bucket`` (both modes) and ``qdimd stats`` through click's CliRunner."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner
from PIL import Image

from qdimd import MaskConfig, MaskParams, border_distance, hole_ratio, render_mask
from qdimd.buckets import bucket_of, group_of
from qdimd.strokes.store import load_default_store
from qdimd_cli.qdimd_main import main

from helpers import nvidia_style_folder, rect_hole, read_manifest as manifest

COLUMNS = ("index", "file", "hole_ratio", "border_distance", "margin", "bucket", "group", "params")
MODE1 = ["bucket", "--size", "64", "--per-group", "3", "--seed", "5", "--workers", "1"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split") / "test_split"
    result = cli(*MODE1, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_mode1_layout_and_every_mask_verified(split):
    rows = manifest(split)
    assert len(rows) == 36
    assert [int(r["index"]) for r in rows] == list(range(36))
    config = json.loads((split / "config.json").read_text())
    assert config["border_margin"] == 6 and config["config"]["split"] == "test" and config["per_group"] == 3
    for row in rows:
        assert row["file"] == f"{row['bucket']}/{row['group']}/{int(row['index']):05d}.png"
        hole = np.asarray(Image.open(split / row["file"])) == 255
        assert hole.shape == (64, 64)
        assert bucket_of(hole_ratio(hole)) == int(row["bucket"])
        assert group_of(border_distance(hole), 6) == row["group"]
        assert float(row["hole_ratio"]) == hole_ratio(hole) and int(row["border_distance"]) == border_distance(hole)
    assert sorted({(r["bucket"], r["group"]) for r in rows}) == sorted(
        (str(b), g) for b in range(1, 7) for g in ("noborder", "border"))
    readme = (split / "README.md").read_text()
    assert "| 6      | (0.50, 0.60] | border" in readme
    assert not (split / ".qdimd-parts").exists()


def test_mode1_params_rebuild_masks(split):
    store = load_default_store()
    config = MaskConfig(size=(64, 64), split="test")
    for row in manifest(split)[::7]:
        params = MaskParams.from_dict(orjson.loads(row["params"]))
        hole = np.asarray(Image.open(split / row["file"])) == 255
        np.testing.assert_array_equal(render_mask(params, config, store), hole)


def test_mode1_resume_completes_identically(split, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(split, out)
    # simulate an interrupted run: no manifest yet, chunks 0..4 finished (their parts exist), a later file missing
    (out / "manifest.csv").unlink()
    (out / "README.md").unlink()
    (out / "3" / "border" / "00017.png").unlink()
    parts = out / ".qdimd-parts"
    parts.mkdir()
    done = [r for r in manifest(split) if int(r["index"]) < 15]
    for first in range(0, 15, 3):
        chunk_rows = [r for r in done if first <= int(r["index"]) < first + 3]
        with open(parts / f"{first:08d}-{first + 3:08d}.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            for r in chunk_rows:
                writer.writerow([r[c] for c in COLUMNS])
    result = cli(*MODE1, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert files_of(out) == files_of(split)


def test_mode1_refuses_a_used_folder_and_bad_options(split, tmp_path):
    result = CliRunner().invoke(main, [*MODE1, "--out", str(split)])
    assert result.exit_code == 1 and "already holds a split" in result.output
    result = CliRunner().invoke(main, [*MODE1, "--out", str(split), "--resume", "--seed", "6"])
    assert result.exit_code == 1 and "different options" in result.output
    result = CliRunner().invoke(main, [*MODE1, "--out", str(tmp_path / "x"), "--link"])
    assert result.exit_code == 2 and "--link applies to mode 2" in result.output
    result = CliRunner().invoke(main, [*MODE1, "--out", str(tmp_path / "y"), "--border-margin", "40"])
    assert result.exit_code == 1 and "inner share" in result.output


def test_mode2_with_bad_files(tmp_path, photo_dir):
    src = nvidia_style_folder(tmp_path / "masks")
    (src / "notes.png").write_text("hello")
    (src / "zero.png").write_bytes(b"")
    rgb = np.repeat((rect_hole(512, 0.25, 60).astype(np.uint8) * 255)[:, :, None], 3, axis=2)
    Image.fromarray(rgb).save(src / "rgb.jpg", quality=80)
    shutil.copy(sorted(photo_dir.glob("*.jpg"))[0], src / "photo.jpg")
    out = tmp_path / "sorted"
    result = CliRunner().invoke(main, ["bucket", "--from", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "holes are white (255)" in result.output
    assert "skipped 3 bad record(s)" in result.output
    assert "notes.png" in result.output and "zero.png: empty file" in result.output and "photo.jpg" in result.output
    rows = manifest(out)
    assert len(rows) == 13
    by_name = {Path(r["source"]).name: r for r in rows}
    assert (by_name["rgb.jpg"]["bucket"], by_name["rgb.jpg"]["group"]) == ("3", "noborder")
    for name, row in by_name.items():
        if name[:5].isdigit():
            number = int(name[:5])
            assert row["bucket"] == str(number // 2000 + 1)
            assert row["group"] == ("noborder" if number % 2000 < 1000 else "border")
        assert (out / row["file"]).read_bytes() == (src / name).read_bytes()
    result = CliRunner().invoke(main, ["bucket", "--from", str(src), "--out", str(tmp_path / "s2"), "--strict"])
    assert result.exit_code == 1 and "strict mode" in result.output


def test_mode2_options(tmp_path):
    src = nvidia_style_folder(tmp_path / "masks")
    result = CliRunner().invoke(main, ["bucket", "--from", str(src), "--out", str(tmp_path / "o"), "--hole-value", "0",
                                       "--border-margin", "0", "--link"])
    assert result.exit_code == 0, result.output
    rows = manifest(tmp_path / "o")
    assert {r["group"] for r in rows} == {"noborder"}  # margin 0: everything keeps >= 0 px
    assert all((tmp_path / "o" / r["file"]).is_symlink() for r in rows)
    result = CliRunner().invoke(main, ["bucket", "--from", str(tmp_path / "nope"), "--out", str(tmp_path / "p")])
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_stats_on_split_folder_and_masks(split, tmp_path):
    result = cli("stats", split, "-o", tmp_path / "h.png")
    assert result.exit_code == 0, result.output
    assert "36 masks (from the manifest)" in result.output
    assert "| 1      | (0.01, 0.10] | noborder | 3     | 8.3%" in result.output
    image = Image.open(tmp_path / "h.png")
    assert image.size == (900, 420) and image.mode == "RGB"
    result = cli("stats", split, "--no-manifest", "-o", tmp_path / "h2.png")
    assert result.exit_code == 0 and "36 masks (from the masks)" in result.output
    assert "| 6      | (0.50, 0.60] | border   | 3     | 8.3%" in result.output


def test_stats_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no readable mask files" in result.output


def test_stats_default_histogram_goes_to_the_working_folder(split, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("stats", split)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "test_split_ratio_histogram.png").is_file()
    assert not list(split.glob("*histogram*"))  # the analysed folder is never written to


def test_mode1_resume_removes_temporaries_and_leaves_a_complete_split(split, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(split, out)
    before = files_of(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    result = cli(*MODE1, "--out", out, "--resume")  # complete: nothing is redone or rewritten
    assert result.exit_code == 0, result.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes
    # an interrupted run: a chunk unfinished and a temporary left by a killed worker
    (out / "manifest.csv").unlink()
    (out / ".qdimd-parts").mkdir()
    (out / "2" / "border" / ".00010.png.0123456789ab.tmp").write_bytes(b"half a png")
    result = cli(*MODE1, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert files_of(out) == before


def test_mode1_impossible_margin_names_the_cell(tmp_path):
    result = CliRunner().invoke(main, [*MODE1, "--out", str(tmp_path / "y"), "--border-margin", "20"])
    assert result.exit_code == 1
    assert "noborder masks of bucket 3 (0.2, 0.3] at 64x64, got margin 20 px" in result.output


def test_pool_workers_ignore_ctrl_c_and_clean_up_on_terminate():
    import signal

    from qdimd.sets.testsplit import _init_worker

    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        _init_worker()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        with pytest.raises(SystemExit):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])


def test_mode1_names_unusable_stroke_sources(tmp_path):
    missing = tmp_path / "nowhere.ndjson"
    result = CliRunner().invoke(main, [*MODE1, "--out", str(tmp_path / "out"), "--strokes", str(missing)])
    assert result.exit_code == 1
    assert f"{missing}: no such file" in result.output and "no drawings" in result.output


def test_mode1_resume_with_ndjson_strokes_records_content_and_renderer(tmp_path):
    # Issue 12 point 5: ndjson sources are streamed into a temporary store whose path changes on every
    # run; config.json used to record it, so every --resume was refused. It also recorded renderer "auto".
    strokes = Path(__file__).parents[1] / "data" / "quickdraw" / "simplified.ndjson"
    args = ["bucket", "--size", "64", "--per-group", "1", "--workers", "1", "--strokes", strokes]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert cli(*args, "--out", full).exit_code == 0
    config = json.loads((full / "config.json").read_text())
    assert config["store"]["sources"] == [str(strokes)] and "qdimd-strokes-" not in json.dumps(config)
    assert config["store"]["n_drawings"] == 5 and config["config"]["renderer"] in ("cairo", "opencv")
    shutil.copytree(full, cut)
    (cut / "manifest.csv").unlink()
    (cut / "README.md").unlink()
    (cut / "6" / "border" / "00011.png").unlink()
    result = cli(*args, "--out", cut, "--resume")
    assert result.exit_code == 0, result.output
    assert files_of(cut) == files_of(full)
    result = CliRunner().invoke(main, [*map(str, args), "--out", str(cut), "--resume", "--seed", "3"])
    assert result.exit_code == 1 and "differs in: seed" in result.output


def test_mode1_resume_keeps_user_files_and_never_writes_through_links(split, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(split, out)
    (out / "manifest.csv").unlink()  # interrupted
    (out / ".qdimd-parts").mkdir()
    (out / "2" / "border" / ".notes.tmp").write_text("mine")
    result = cli(*MODE1, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert (out / "2" / "border" / ".notes.tmp").read_text() == "mine"
    (out / "manifest.csv").unlink()
    (out / ".qdimd-parts").mkdir()
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "3" / "noborder", elsewhere)
    (out / "3" / "noborder").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / ".x.png.0123456789ab.tmp").write_bytes(b"not this split's")
    result = cli(*MODE1, "--out", out, "--resume")
    assert result.exit_code == 1 and "symbolic link" in result.output
    assert (elsewhere / ".x.png.0123456789ab.tmp").exists()


def test_mode1_at_1024(tmp_path):
    """Issue 21: 1024 px splits, margin and widths scaled with the side (100 px, 4x the widths at 256)."""
    out = tmp_path / "split1024"
    result = cli("bucket", "--size", "1024", "--per-group", "1", "--seed", "0", "--out", out)
    assert result.exit_code == 0, result.output
    rows = manifest(out)
    assert len(rows) == 12 and {r["margin"] for r in rows} == {"100"}
    for row in rows:
        hole = np.asarray(Image.open(out / row["file"])) == 255
        assert hole.shape == (1024, 1024) and bucket_of(hole_ratio(hole)) == int(row["bucket"])
        assert group_of(border_distance(hole), 100) == row["group"]


def test_mode1_cell_that_cannot_be_made_is_a_clear_error(tmp_path, monkeypatch):
    """A cell no drawing can reach at this size (a small stroke source at 64 px): one line saying which cell and what
    to change, no RuntimeError traceback (seen with 50 drawings, --size 64 --per-group 400)."""
    from qdimd.masks.targeted import TargetedGenerator

    monkeypatch.setattr(TargetedGenerator, "_steer", lambda *args: None)
    result = CliRunner().invoke(main, [*MODE1, "--out", str(tmp_path / "s")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Could not make mask" in result.output and "--size" in result.output and "--strokes" in result.output
