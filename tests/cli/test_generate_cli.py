"""``qdimd generate`` and ``qdimd preview`` through click's CliRunner (and one killed subprocess)."""
from __future__ import annotations

import csv
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner
from PIL import Image

from qdimd import MaskConfig, MaskGenerator, MaskParams, border_distance, render_mask
from qdimd.files import layout
from qdimd.strokes.store import load_default_store
from qdimd_cli.qdimd_main import main

BASE = ["generate", "--size", "64", "--seed", "7", "--workers", "1"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def rows_of(manifest: Path) -> list[dict]:
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(layout, "CHUNK", 8)


def test_generate_writes_masks_manifest_and_config(tmp_path):
    out = tmp_path / "masks"
    result = cli(*BASE, "--n", 20, "--out", out)
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [f"{i:08d}.png" for i in range(20)]
    rows = rows_of(out / "manifest.csv")
    assert list(rows[0]) == ["index", "file", "hole_ratio", "border_distance", "params"]
    assert [int(r["index"]) for r in rows] == list(range(20))
    config = orjson.loads((out / "config.json").read_bytes())
    assert config["n"] == 20 and config["seed"] == 7 and config["mask_config"]["size"] == [64, 64]
    assert config["store"]["n_drawings"] == load_default_store().n_drawings and config["qdimd_version"]
    store, mask_config = load_default_store(), MaskConfig.from_dict(config["mask_config"])
    for row in rows[:5]:
        image = Image.open(out / row["file"])
        assert image.mode == "L" and image.size == (64, 64)
        hole = np.asarray(image) == 255
        assert set(np.unique(np.asarray(image)).tolist()) <= {0, 255}
        assert float(row["hole_ratio"]) == hole.mean() and int(row["border_distance"]) == border_distance(hole)
        params = MaskParams.from_dict(orjson.loads(row["params"]))  # the row rebuilds the mask
        assert np.array_equal(render_mask(params, mask_config, store), hole)
    assert np.array_equal(MaskGenerator(mask_config, store, seed=7).generate(3), np.asarray(Image.open(out / rows[3]["file"])) == 255)


def test_hole_value_zero_writes_black_holes(tmp_path):
    assert cli(*BASE, "--n", 5, "--out", tmp_path / "w").exit_code == 0
    assert cli(*BASE, "--n", 5, "--out", tmp_path / "b", "--hole-value", 0).exit_code == 0
    for i in range(5):
        white = np.asarray(Image.open(tmp_path / "w" / f"{i:08d}.png"))
        black = np.asarray(Image.open(tmp_path / "b" / f"{i:08d}.png"))
        assert np.array_equal(black, 255 - white)
    assert orjson.loads((tmp_path / "b" / "config.json").read_bytes())["hole_value"] == 0


@pytest.mark.parametrize("split, suffix", [(None, "train"), ("test", "test")])
def test_layout_qdimd_uses_the_original_names(tmp_path, split, suffix):
    extra = [] if split is None else ["--split", split]
    assert cli(*BASE, "--n", 3, "--out", tmp_path, "--layout", "qdimd", *extra).exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [f"0000{i}_{suffix}.png" for i in (0, 1, 2)]  # from 0, as the original driver


@pytest.mark.parametrize("args, message", [
    (["--size", "0"], "sides in 16..8192"),
    (["--shard", "3/2"], "1 <= K <= N"),
    (["--shard", "x"], "expected K/N"),
    (["--hole-value", "7"], "'7' is not one of"),
    (["--layout", "lama"], "'lama' is not one of"),
    (["--width-min", "20"], "width_min <= width_max"),
    (["--strokes", "/no/such/strokes.ndjson"], "no/such"),
])
def test_bad_options_fail_with_a_message(tmp_path, args, message):
    result = CliRunner().invoke(main, [*BASE, "--n", "2", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_ndjson_strokes_with_bad_lines_are_skipped_and_reported(tmp_path):
    store = load_default_store()
    lines = []
    for d in range(3):
        drawing = store.drawing(d)
        strokes = [[s[:, 0].astype(int).tolist(), s[:, 1].astype(int).tolist()] for s in drawing.strokes]
        lines.append(orjson.dumps({"word": drawing.word, "countrycode": "US", "timestamp": "", "recognized": True,
                                   "key_id": str(drawing.key_id), "drawing": strokes}))
    lines.insert(1, b'{"word": "cat", "drawing": [[[1, 2], [3]]]')  # broken record on line 2
    source = tmp_path / "cat.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = cli(*BASE, "--n", 4, "--out", tmp_path / "o", "--strokes", source)
    assert result.exit_code == 0 and "skipped 1 bad record" in result.output and "cat.ndjson:2" in result.output
    assert len(list((tmp_path / "o").glob("*.png"))) == 4
    strict = CliRunner().invoke(main, [*BASE, "--n", "4", "--out", str(tmp_path / "s"), "--strokes", str(source), "--strict"])
    assert strict.exit_code != 0 and "cat.ndjson:2" in strict.output


def test_refuses_folders_it_should_not_touch(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "photo.jpg").write_bytes(b"x")
    result = CliRunner().invoke(main, [*BASE, "--n", "2", "--out", str(foreign)])
    assert result.exit_code != 0 and "not empty" in result.output
    out = tmp_path / "o"
    assert cli(*BASE, "--n", 2, "--out", out).exit_code == 0
    again = CliRunner().invoke(main, [*BASE, "--n", "2", "--out", str(out)])
    assert again.exit_code != 0 and "--resume" in again.output
    other = CliRunner().invoke(main, [*BASE, "--n", "2", "--out", str(out), "--seed", "8", "--resume"])
    assert other.exit_code != 0 and "different configuration" in other.output and "seed" in other.output
    assert cli(*BASE, "--n", 2, "--out", out, "--resume").exit_code == 0  # a finished run: nothing to do


def test_resume_rebuilds_exactly_the_uninterrupted_run(tmp_path, small_chunks):
    full, broken = tmp_path / "full", tmp_path / "broken"
    assert cli(*BASE, "--n", 30, "--out", full).exit_code == 0
    assert cli(*BASE, "--n", 30, "--out", broken).exit_code == 0
    # What an interrupted run leaves: no manifest yet, a few parts, missing masks, temporary files.
    (broken / "manifest.csv").unlink()
    (broken / ".qdimd-parts").mkdir()
    rows = (full / "manifest.csv").read_text().splitlines(keepends=True)[1:]
    (broken / ".qdimd-parts" / layout.Task(8, 16).part_name).write_text("".join(rows[8:16]))  # a finished task
    for i in (3, 17, 29):
        (broken / f"{i:08d}.png").unlink()
    (broken / ".00000017.png.999.tmp").write_bytes(b"half a png")
    (broken / ".00000029.png.abc123.tmp").write_bytes(b"")
    result = cli(*BASE, "--n", 30, "--out", broken, "--resume")
    assert result.exit_code == 0, result.output
    assert files_of(broken) == files_of(full)
    assert not (broken / ".qdimd-parts").exists()


# The killed process writes its first masks, says so through a file and then blocks, so the
# kill lands mid-run however fast this machine is (issue 10: no test may race the work).
KILLED_CHILD = """
import sys, threading
from pathlib import Path
from qdimd.files import writetask
write, ready = writetask.FolderWriter.write, Path(sys.argv[1])
def write_then_block(self, *args):
    write(self, *args)
    ready.touch()
    threading.Event().wait()  # until killed
writetask.FolderWriter.write = write_then_block
sys.argv = ["qdimd", *sys.argv[2:]]
from qdimd_cli.qdimd_main import main
main()
"""


def test_resume_after_a_killed_process(tmp_path):
    full, killed, ready = tmp_path / "full", tmp_path / "killed", tmp_path / "ready"
    args = ["--n", "4000", "--size", "64", "--seed", "1", "--workers", "1"]
    command = [sys.executable, "-c", KILLED_CHILD, str(ready), "generate", *args, "--out", str(killed)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600  # a hang guard only: the child signals through `ready`
    while not ready.exists():
        if time.monotonic() > deadline:
            process.kill()
        assert process.poll() is None, process.communicate()[1].decode()
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert any(killed.glob("*.png")) and not (killed / "manifest.csv").exists()  # it really was cut short
    assert CliRunner().invoke(main, ["generate", *args, "--out", str(killed), "--resume"]).exit_code == 0
    assert cli("generate", *args, "--out", full).exit_code == 0
    assert files_of(killed) == files_of(full)


@pytest.mark.parametrize("fmt", ["png", "tar"])
def test_shards_union_equals_the_unsharded_run(tmp_path, small_chunks, fmt):
    opts = ["--n", 37, "--format", fmt, "--shard-size", 5]
    assert cli(*BASE, *opts, "--out", tmp_path / "all").exit_code == 0
    union, shared = {}, tmp_path / "shared"
    manifest_rows = []
    for k in (1, 2, 3):
        assert cli(*BASE, *opts, "--out", tmp_path / f"part{k}", "--shard", f"{k}/3").exit_code == 0
        assert cli(*BASE, *opts, "--out", shared, "--shard", f"{k}/3").exit_code == 0  # parts may share a folder
        part = files_of(tmp_path / f"part{k}")
        rows = part.pop(f"manifest-{k}-of-3.csv").decode().splitlines(keepends=True)
        manifest_rows += rows[1:]
        assert not set(part) - {"config.json"} & set(union) - {"config.json"}  # disjoint
        union.update(part)
    everything = files_of(tmp_path / "all")
    header, *rows = everything.pop("manifest.csv").decode().splitlines(keepends=True)
    assert union == everything and manifest_rows == rows
    shared_files = files_of(shared)
    for k in (1, 2, 3):
        shared_files.pop(f"manifest-{k}-of-3.csv")
    assert shared_files == everything


def test_tar_shards_hold_the_png_bytes(tmp_path):
    assert cli(*BASE, "--n", 12, "--out", tmp_path / "png").exit_code == 0
    assert cli(*BASE, "--n", 12, "--out", tmp_path / "tar", "--format", "tar", "--shard-size", 5).exit_code == 0
    shards = sorted(p.name for p in (tmp_path / "tar").glob("*.tar"))
    assert shards == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    members = {}
    for shard in shards:
        with tarfile.open(tmp_path / "tar" / shard) as tar:
            members.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    pngs = {p.name: p.read_bytes() for p in (tmp_path / "png").glob("*.png")}
    assert members == pngs
    rows = rows_of(tmp_path / "tar" / "manifest.csv")
    assert rows[6]["file"] == "shard-000001.tar:00000006.png"


def test_worker_count_does_not_change_the_bytes(tmp_path, small_chunks):
    assert cli(*BASE, "--n", 40, "--out", tmp_path / "one").exit_code == 0
    result = cli("generate", "--size", "64", "--seed", "7", "--workers", "2", "--n", "40", "--out", tmp_path / "two")
    assert result.exit_code == 0, result.output
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")


def test_preview_of_a_folder_a_tar_run_and_on_the_fly(tmp_path):
    assert cli(*BASE, "--n", 10, "--out", tmp_path / "m", "--hole-value", 0).exit_code == 0
    assert cli(*BASE, "--n", 10, "--out", tmp_path / "t", "--format", "tar", "--shard-size", 4).exit_code == 0
    for source in (tmp_path / "m", tmp_path / "m" / "manifest.csv", tmp_path / "t"):
        sheet = tmp_path / "sheet.png"
        result = cli("preview", source, "--n", 6, "--columns", 3, "--cell", 64, "-o", sheet)
        assert result.exit_code == 0, result.output
        image = np.asarray(Image.open(sheet))
        assert image.shape == (4 + 2 * (64 + 14 + 4), 4 + 3 * (64 + 4))
        first = image[4:68, 4:68] == 255  # the first cell shows mask 0 with holes white
        hole = MaskGenerator(MaskConfig(size=(64, 64)), seed=7).generate(0)
        assert np.array_equal(first, hole)
    result = cli("preview", "--n", 4, "--size", "32x64", "-o", tmp_path / "fly.png")
    assert result.exit_code == 0 and (tmp_path / "fly.png").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["preview", str(empty), "-o", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and "no masks found" in result.output


# Issue 12 point 6: every option is checked before anything is written, so a corrected rerun in the
# same folder is never refused as "a run with a different configuration".
@pytest.mark.parametrize("args, message", [
    (["--strokes-mean", "nan"], "finite strokes_mean"),
    (["--strokes-mean", "inf"], "finite strokes_mean"),
    (["--strokes-mean", "1e9"], "finite strokes_mean in [0, 1000]"),
    (["--strokes-std", "nan"], "finite strokes_std"),
    (["--upscale-max", "inf"], "finite upscale_max"),
    (["--upscale-min", "nan"], "finite upscale_min"),
    (["--width-max", "nan"], "finite width_max"),
    (["--width-max", "300"], "width_max <= reference_size"),
    (["--seed", "-1"], "0<=x<=9223372036854775807"),
    (["--seed", str(2**64)], "0<=x<=9223372036854775807"),
])
def test_bad_values_fail_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "o"
    result = CliRunner().invoke(main, [*BASE, "--n", "2", "--out", str(out), *args])
    assert result.exit_code in (1, 2) and message in result.output and "Traceback" not in result.output
    assert not out.exists()
    assert cli(*BASE, "--n", 2, "--out", out).exit_code == 0  # the corrected rerun is not refused


def test_a_split_the_store_lacks_fails_before_config_json(tmp_path):
    from qdimd.errors import ProblemLog
    from qdimd.strokes.builder import build_store
    from qdimd.strokes.splits import split_of

    store = load_default_store()
    train_only = [c for c in store.categories if split_of(c) == "train"][:2]
    path = tmp_path / "train.qds"
    build_store([store.path], path, problems=ProblemLog(), categories=train_only)
    out = tmp_path / "o"
    result = CliRunner().invoke(main, [*BASE, "--n", "2", "--strokes", str(path), "--split", "test", "--out", str(out)])
    assert result.exit_code == 1 and "split='test'" in result.output
    assert not out.exists()
    assert cli(*BASE, "--n", 2, "--strokes", path, "--split", "train", "--out", out).exit_code == 0


def test_png_bits_1_writes_1_bit_files_with_the_same_pixels(tmp_path):
    assert cli(*BASE, "--n", 3, "--out", tmp_path / "8").exit_code == 0
    assert cli(*BASE, "--n", 3, "--out", tmp_path / "1", "--png-bits", 1, "--hole-value", 0).exit_code == 0
    for i in range(3):
        with Image.open(tmp_path / "8" / f"{i:08d}.png") as eight, Image.open(tmp_path / "1" / f"{i:08d}.png") as one:
            assert (eight.mode, one.mode) == ("L", "1")
            assert np.array_equal(np.asarray(eight) == 255, ~np.asarray(one))  # 1-bit, black holes
    assert orjson.loads((tmp_path / "1" / "config.json").read_bytes())["png_bits"] == 1


# Issue 12 point 8: the original driver's defaults (karfly/qd-imd generate_dataset.py).
def test_preset_qd_imd_writes_both_halves_with_the_driver_defaults(tmp_path, monkeypatch):
    from qdimd_cli import generate

    monkeypatch.setitem(generate.PRESETS["qd-imd"], "n", {"train": 2, "test": 1})  # 50,000 and 10,000 really
    assert generate.PRESETS["qd-imd"]["size"] == (512, 512)
    assert cli("generate", "--preset", "qd-imd", "--workers", 1, "--out", tmp_path).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "train").glob("*.png")) == ["00000_train.png", "00001_train.png"]
    assert sorted(p.name for p in (tmp_path / "test").glob("*.png")) == ["00000_test.png"]
    config = orjson.loads((tmp_path / "test" / "config.json").read_bytes())
    assert (config["n"], config["layout"], config["hole_value"]) == (1, "qdimd", 0)
    mask = config["mask_config"]
    assert (mask["size"], mask["reference_size"], mask["split"]) == ([512, 512], 512, "test")
    assert (mask["width_min"], mask["width_max"], mask["upscale_max"], mask["allow_empty"]) == (5.0, 15.0, 1.5, False)
    with Image.open(tmp_path / "test" / "00000_test.png") as im:
        hole = np.asarray(im) == 0  # black holes, as the driver's files
    assert hole.shape == (512, 512) and 0 < hole.mean() < 1


def test_preset_options_given_override_it(tmp_path):
    out = tmp_path / "p"
    assert cli("generate", "--preset", "qd-imd", "--split", "test", "--n", 2, "--size", 64, "--hole-value", 255,
               "--workers", 1, "--out", out).exit_code == 0
    config = orjson.loads((out / "test" / "config.json").read_bytes())
    assert (config["n"], config["hole_value"], config["mask_config"]["size"]) == (2, 255, [64, 64])
    assert config["mask_config"]["reference_size"] == 512
    result = CliRunner().invoke(main, ["generate", "--preset", "qd-imd", "--n", "5", "--out", str(tmp_path / "q")])
    assert result.exit_code == 2 and "--split" in result.output and not (tmp_path / "q").exists()
    result = CliRunner().invoke(main, ["generate", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--n" in result.output


def test_generate_at_1024_widths_scale_with_reference_size(tmp_path):
    """Issue 21: 1024 px masks; stroke widths are 4x those at 256, unless --reference-size 1024."""
    runs = {"256": ["--size", "256"], "1024": ["--size", "1024"], "1024 ref": ["--size", "1024", "--reference-size", "1024"]}
    widths = {}
    for name, options in runs.items():
        out = tmp_path / name.replace(" ", "_")
        result = cli("generate", "--n", "2", "--seed", "3", "--workers", "1", *options, "--out", out)
        assert result.exit_code == 0, result.output
        widths[name] = np.array([orjson.loads(r["params"])["widths"][0] for r in rows_of(out / "manifest.csv")])
        assert Image.open(out / "00000000.png").size == (int(options[1]),) * 2
    np.testing.assert_allclose(widths["1024"], 4 * widths["256"])
    np.testing.assert_allclose(widths["1024 ref"], widths["256"])
