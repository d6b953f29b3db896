"""Issue 18 points 8 and 9: clear errors on hostile or unlucky input, and the friction a new user met."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import nvidia_style_folder, save_gray

from qdimd_cli.inpaint_main import main
from qdimd_cli.qdimd_main import main as qdimd_main

TINY = ["--model", "pconv", "--size", "32", "--width", "0.125", "--batch-size", "2", "--allow-random-vgg",
        "--vgg-width", "0.125", "--workers", "0", "--device", "cpu"]
NO_TORCH = "import sys; sys.modules['torch'] = None; from qdimd_cli.inpaint_main import main; main()"


def run_without_torch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``inpaint ARGS`` in a fresh interpreter where ``import torch`` fails."""
    return subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def one_pair(photo_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    photo = sorted(photo_dir.iterdir())[0]
    hole = np.zeros((128, 128), np.uint8)
    hole[40:70, 30:90] = 255
    save_gray(tmp_path / "hole.png", hole)
    return photo, tmp_path / "hole.png"


def test_fill_telea_runs_without_torch(photo_dir, tmp_path):
    photo, hole = one_pair(photo_dir, tmp_path)
    result = run_without_torch("fill", str(photo), str(hole), "-o", str(tmp_path / "out.png"), "--method", "telea",
                               cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").is_file()


def test_eval_telea_runs_without_torch_and_a_torch_metric_says_what_to_install(photo_dir, tmp_path):
    masks = nvidia_style_folder(tmp_path / "masks")
    base = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--method", "telea", "--size", "128",
            "--limit", "1"]
    result = run_without_torch(*base, "--out", str(tmp_path / "r"), "--metric", "l1", "--metric", "psnr", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "r" / "results.csv", newline="") as f:
        assert {r["method"] for r in csv.DictReader(f)} == {"telea"}
    result = run_without_torch(*base, "--out", str(tmp_path / "r2"), cwd=tmp_path)   # iscore needs Inception
    assert result.returncode == 1 and "needs the package 'torch'" in result.stderr and "Traceback" not in result.stderr


def test_a_failed_eval_can_be_rerun_with_the_fixing_flag(photo_dir, tmp_path, monkeypatch):
    """The first run stops before any result (a metric network it cannot load); the rerun with other
    options goes into the same folder instead of being refused as 'another configuration'."""
    from inpaint.evaluation import evaluate as evaluate_module
    from qdimd.errors import InputError

    masks = nvidia_style_folder(tmp_path / "masks")
    out = tmp_path / "report"
    base = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--method", "telea", "--out", str(out),
            "--size", "128", "--limit", "1", "--metric", "l1"]

    def offline(config, **kwargs):
        raise InputError("cannot download the weights; pass --allow-random-weights for a smoke test")

    with monkeypatch.context() as m:
        m.setattr(evaluate_module, "load_metric_networks", offline)
        failed = CliRunner().invoke(main, [*base, "--metric", "lpips"])
    assert failed.exit_code == 1 and (out / "run.json").is_file()
    result = CliRunner().invoke(main, base)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["config"]["metrics"] == ["l1"]
    changed = CliRunner().invoke(main, [*base, "--metric", "psnr"])  # a folder with results is still protected
    assert changed.exit_code == 1 and "another configuration" in changed.output


@pytest.fixture(scope="module")
def random_db(photo_dir, tmp_path_factory):
    """A database of random-VGG descriptors (the smoke-test set-up of docs/retrieval.md) and a Sim-1 checkpoint."""
    from inpaint.checkpoint import save_checkpoint
    from inpaint.nn.models import create_model

    root = tmp_path_factory.mktemp("simk")
    result = CliRunner().invoke(main, ["index", "--images", str(photo_dir), "--out", str(root / "db"), "--allow-random-vgg",
                                       "--vgg-width", "0.0625", "--size", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    kwargs = {"image_size": 64, "width": 1 / 16}
    save_checkpoint(root / "sim1.pt", create_model("sim1", **kwargs), model_name="sim1", model_kwargs=kwargs, step=0,
                    config={})
    return root


def test_simk_smoke_test_fills_and_a_threshold_error_names_the_option(photo_dir, random_db, tmp_path):
    photo, hole = one_pair(photo_dir, tmp_path)
    base = ["fill", str(photo), str(hole), "--method", "simk", "--checkpoint", str(random_db / "sim1.pt"),
            "--db", str(random_db / "db"), "--allow-random-vgg", "--device", "cpu"]
    result = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "a.png")])
    assert result.exit_code == 0, result.output   # random descriptors: no near-duplicate threshold by default
    result = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "b.png"), "--dup-threshold", "-1"])
    assert result.exit_code == 1 and "near-duplicate threshold -1" in result.output and "--dup-threshold" in result.output


def test_eval_simk_takes_the_threshold(photo_dir, random_db, tmp_path):
    masks = nvidia_style_folder(tmp_path / "masks")
    base = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--size", "128", "--limit", "1",
            "--metric", "l1", "--allow-random-vgg", "--device", "cpu",
            "--method", f"simk:{random_db / 'sim1.pt'}:{random_db / 'db'}"]
    assert CliRunner().invoke(main, [*base, "--out", str(tmp_path / "r1")]).exit_code == 0
    result = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "r2"), "--dup-threshold", "-1"])
    assert result.exit_code == 1 and "--dup-threshold" in result.output


def tamper_db(db: Path, name: str, change) -> Path:
    import shutil

    copy = db.parent / f"{db.name}-{name}"
    shutil.copytree(db, copy)
    config = json.loads((copy / "config.json").read_text())
    array = np.load(copy / config["data"][name])
    change(array)
    np.save(copy / config["data"][name], array)
    return copy


@pytest.mark.parametrize("name, change, message", [
    ("vectors", lambda a: a.__setitem__((3, 0), np.nan), "the vector of row 3"),
    ("vectors", lambda a: a.__setitem__((0, 5), np.inf), "not finite"),
    ("topk", lambda a: a.__setitem__((2, 0), 10**6), "row 2 names neighbour 1000000"),
    ("topk", lambda a: a.__setitem__((0, 0), -7), "Expected -1.."),
])
def test_tampered_database_is_a_clear_error_at_load(photo_dir, tmp_path, name, change, message):
    from inpaint.retrieval.database import ImageDB

    db = tmp_path / "db"
    result = CliRunner().invoke(main, ["index", "--images", str(photo_dir), "--out", str(db), "--allow-random-vgg",
                                       "--vgg-width", "0.0625", "--size", "32", "--topk", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    bad = tamper_db(db, name, change)
    with pytest.raises(ValueError, match=message) as info:
        ImageDB.load(bad)
    assert str(bad) in str(info.value)
    result = CliRunner().invoke(main, ["query", str(bad), str(sorted(photo_dir.iterdir())[0]), "--allow-random-vgg"])
    assert result.exit_code == 1 and message.split(" ")[0] in result.output and "Traceback" not in result.output


def test_non_utf8_file_names_are_named_and_index_leaves_no_orphan(photo_dir, tmp_path):
    import shutil

    photos = tmp_path / "photos"
    photos.mkdir()
    for src in sorted(photo_dir.iterdir())[:2]:
        shutil.copy(src, photos / src.name)
    bad = os.fsdecode(os.fsencode(str(photos)) + b"/caf\xe9.jpg")
    shutil.copy(sorted(photo_dir.iterdir())[2], bad)
    result = CliRunner().invoke(main, ["index", "--images", str(photos), "--out", str(tmp_path / "db"),
                                       "--allow-random-vgg", "--vgg-width", "0.0625", "--size", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    from inpaint.retrieval.database import ImageDB

    assert bad in ImageDB.load(tmp_path / "db").files   # the name round-trips through files-<gen>.json
    masks = nvidia_style_folder(tmp_path / "masks")
    shutil.copy(next(masks.iterdir()), os.fsdecode(os.fsencode(str(masks)) + b"/m\xff.png"))
    result = CliRunner().invoke(main, ["eval", "--images", str(photos), "--masks", str(masks), "--method", "telea",
                                       "--out", str(tmp_path / "r"), "--size", "128", "--metric", "l1"])
    assert result.exit_code == 0, result.output
    assert "caf\\xe9.jpg: file name is not valid UTF-8" in result.output and "m\\xff.png" in result.output
    result = CliRunner().invoke(qdimd_main, ["bucket", "--from", str(masks), "--out", str(tmp_path / "sorted")])
    assert result.exit_code == 0 and "m\\xff.png: file name is not valid UTF-8" in result.output


def test_database_save_failure_leaves_no_orphan_files(tmp_path, monkeypatch):
    from inpaint.retrieval import database

    db = database.ImageDB(["a.png"], np.ones((1, 4), np.float16) / 2, {"descriptor": {}})

    def broken(files):
        raise OSError("disk full")

    monkeypatch.setattr(database, "_files_json", broken)
    with pytest.raises(OSError, match="disk full"):
        db.save(tmp_path / "db")
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == []


def test_float16_weight_file_is_cast_at_load(tmp_path):
    import torch

    from inpaint.nn.vgg import VGG16, load_vgg16

    net = VGG16(1 / 16, generator=torch.Generator().manual_seed(0))
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, tmp_path / "vgg16.pth")
    model = load_vgg16(tmp_path / "vgg16.pth", width=1 / 16)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert torch.isfinite(model(torch.rand(1, 3, 32, 32))[-1]).all()   # the first forward works


def test_offline_weight_error_mentions_the_smoke_test_flag(tmp_path, monkeypatch):
    import torch

    from inpaint.nn.vgg import load_vgg16
    from qdimd.errors import InputError

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(InputError, match="--allow-random-vgg uses fixed random weights"):
        load_vgg16(width=1 / 16)


def test_divergence_before_the_first_checkpoint_names_no_missing_file(photo_dir, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--images", str(photo_dir), "--out", str(run), *TINY, "--max-steps", "20",
                                       "--loss-weights", "1e308", "1e308", "1", "1", "1", "--max-bad-steps", "2"])
    assert result.exit_code == 1 and "non-finite" in result.output
    assert "no checkpoint was written" in result.output and "checkpoint.pt (step" not in result.output


def test_stats_reports_manifest_rows_with_a_nan_ratio(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    rows = [("a.png", "0.05", "30"), ("b.png", "nan", "30"), ("c.png", "0.25", "3"), ("d.png", "oops", "1")]
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "hole_ratio", "border_distance", "margin"])
        writer.writerows([(*r, "25") for r in rows])
    result = CliRunner().invoke(qdimd_main, ["stats", str(folder), "-o", str(tmp_path / "h.png")])
    assert result.exit_code == 0, result.output
    assert "2 masks (from the manifest)" in result.output
    assert "manifest.csv:3: bad hole_ratio" in result.output and "manifest.csv:5: bad hole_ratio" in result.output
    assert "skipped 2 bad record(s)" in result.output
