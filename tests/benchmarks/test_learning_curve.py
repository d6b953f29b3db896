"""The learning-curve script's code path on a tiny setting (a few steps, 32-px crops), so it cannot rot."""
from __future__ import annotations

import csv
import importlib
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def curve(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("benchmarks.learning_curve")


def test_split_crop_and_hole_l1(curve):
    rng = np.random.default_rng(0)
    files = [Path(f"p{i}.png") for i in range(10)]
    train, val = curve.split_photos(files, 3, rng)
    assert len(val) == 3 and not set(train) & set(val) and set(train) | set(val) == set(files)
    with pytest.raises(ValueError, match="val-photos"):
        curve.split_photos(files, 10, rng)
    crop = curve.sample_crop(np.zeros((60, 90, 3), np.uint8), 32, rng)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    a, b = np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)
    hole = np.zeros((4, 4), bool)
    hole[0, 0] = True
    b[0, 0] = 51   # 20 % of 255 on the one hole pixel; the rest of the image does not count
    b[3, 3] = 255
    assert curve.hole_l1(a, b, hole) == pytest.approx(20.0)


@pytest.mark.slow
def test_tiny_run_writes_curve(curve, photo_dir, tmp_path):
    out = tmp_path / "curve.png"
    result = curve.main(["--images", str(photo_dir), "--size", "32", "--width", "0.125", "--max-steps", "2",
                         "--val-every", "1", "--val-photos", "2", "--val-crops", "2", "--train-crops", "8",
                         "--run-dir", str(tmp_path / "run"), "--out", str(out), "--threads", "1"])
    rows = result["rows"]
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert result["pairs"] == 4 and result["train_photos"] == 22
    for r in rows + list(result["baselines"].values()):
        assert 0 < r["hole_l1"] < 100 and math.isfinite(r["psnr"]) and 0 < r["psnr"] < 80
    assert rows[1]["hole_l1"] != rows[0]["hole_l1"]   # the validated model is the trained one, not the start
    with open(tmp_path / "run" / "curve.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [0, 1, 2]
    with Image.open(out) as im:
        assert im.size[0] > 500 and im.size[1] > 200
    assert len(list((tmp_path / "run" / "train").glob("crop-*.png"))) == 8
    with pytest.raises(SystemExit, match="not empty"):   # never trains into an old run
        curve.main(["--images", str(photo_dir), "--run-dir", str(tmp_path / "run"), "--out", str(out)])
