"""``inpaint train`` through click: a diverging run stops with exit code 1, its checkpoints stay finite."""
from __future__ import annotations

import csv
import shutil

import pytest
import torch
from click.testing import CliRunner

from qdimd_cli.inpaint_main import main

from inpaint.checkpoint import read_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16")

TINY = ["--model", "pconv", "--size", "32", "--width", "0.125", "--batch-size", "2", "--allow-random-vgg",
        "--vgg-width", "0.125", "--workers", "0", "--device", "cpu"]


def _all_finite(payload) -> bool:
    tensors = [t for t in payload["state_dict"].values() if t.is_floating_point()]
    for state in payload["optimizer"]["state"].values():
        tensors += [t for t in state.values() if torch.is_tensor(t) and t.is_floating_point()]
    return all(torch.isfinite(t).all() for t in tensors)


def test_lr_1e30_stops_with_non_finite_and_writes_no_non_finite_checkpoint(photo_dir, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--images", str(photo_dir), "--out", str(run), *TINY, "--lr", "1e30", "--max-steps", "40",
            "--checkpoint-every", "1", "--keep-checkpoints", "100", "--log-every", "2", "--max-bad-steps", "3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "non-finite" in result.output and "Traceback" not in result.output
    written = [run / "checkpoint.pt", *sorted((run / "checkpoints").glob("step-*.pt"))]
    assert len(written) >= 2
    for path in written:
        assert _all_finite(read_checkpoint(path)), path
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["bad_steps"]) for r in rows) >= 3          # the skipped steps are counted
    last = read_checkpoint(run / "checkpoint.pt")["step"]
    assert last < int(rows[-1]["step"])                          # the stop wrote no checkpoint


def test_train_help_lists_the_long_run_options():
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--keep-checkpoints", "--val-every", "--val-images", "--val-masks", "--max-bad-steps", "--ema",
                   "--clip-grad", "--init-from", "--compile", "--augment / --no-augment", "cores available"):
        assert option in result.output, option


def test_bad_option_values_are_clean_errors(photo_dir, tmp_path):
    base = ["train", "--images", str(photo_dir), "--out", str(tmp_path / "r"), *TINY, "--max-steps", "1"]
    result = CliRunner().invoke(main, base + ["--val-every", "5"])
    assert result.exit_code == 1 and "--val-images" in result.output
    result = CliRunner().invoke(main, base + ["--ema", "1.5"])
    assert result.exit_code == 2 and "--ema" in result.output


def test_one_near_duplicate_threshold_for_training_neighbours_and_test_time_retrieval():
    from qdimd_cli.inpaint_index import DUP_THRESHOLD

    from inpaint.retrieval.simk import DEFAULT_DUP_THRESHOLD
    from inpaint.training import build

    assert DUP_THRESHOLD == DEFAULT_DUP_THRESHOLD == build.DEFAULT_DUP_THRESHOLD == 0.97


def test_resume_with_the_same_folder_spelled_otherwise(photo_dir, tmp_path, monkeypatch):
    """`--images photos` then `--resume --images ./photos/`: the same folder (was `cannot resume with changed options
    --images`)."""
    monkeypatch.chdir(photo_dir.parent)
    run = tmp_path / "run"
    base = ["train", "--out", str(run), *TINY]
    assert CliRunner().invoke(main, [*base, "--images", photo_dir.name, "--max-steps", "1"]).exit_code == 0
    result = CliRunner().invoke(main, [*base, "--images", f"./{photo_dir.name}/", "--max-steps", "2", "--resume"])
    assert result.exit_code == 0, result.output
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 2


@pytest.mark.parametrize("name", ["samples", "tb"])
def test_linked_samples_or_tensorboard_folder_is_refused(photo_dir, tmp_path, name):
    """`RUN/samples` or `RUN/tb` made a link to another folder: sample grids and event files were written through it."""
    run, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    base = ["train", "--images", str(photo_dir), "--out", str(run), *TINY, "--sample-every", "1"]
    assert CliRunner().invoke(main, [*base, "--max-steps", "1"]).exit_code == 0
    if (run / name).exists():
        shutil.rmtree(run / name)
    (run / name).symlink_to(outside)
    result = CliRunner().invoke(main, [*base, "--max-steps", "2", "--resume"])
    assert result.exit_code == 1, result.output
    assert name in result.output and "link" in result.output
    assert list(outside.iterdir()) == []
