"""``--method NAME=folder:DIR``: another tool's predictions scored under the protocol, and every bad input it gets."""
from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from badimages import save_bomb_png
from click.testing import CliRunner
from helpers import nvidia_style_folder, pairs_cli
from PIL import Image

from cli.inpaint_main import main
from inpaint.evaluation.export_pairs import read_pairs_manifest


@pytest.fixture(scope="module")
def masks(tmp_path_factory) -> Path:
    return nvidia_style_folder(tmp_path_factory.mktemp("masks"), per_group=1)


@pytest.fixture(scope="module")
def pairs_out(photo_dir, masks, tmp_path_factory) -> Path:
    return pairs_cli(photo_dir, masks, tmp_path_factory.mktemp("pairs") / "p")


def run_eval(photo_dir, masks, out, *methods, extra=()):
    args = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--size", "64", "--out", str(out),
            "--metric", "l1", "--metric", "psnr", "--device", "cpu"]
    for m in methods:
        args += ["--method", m]
    return CliRunner().invoke(main, [*args, *extra])


def predictions(pairs_out: Path, folder: Path, name: str = "{stem}_mask000.png", fn=None) -> Path:
    """LaMa-style predictions: each pair's ground truth (or ``fn(truth, hole)``) named ``name``."""
    folder.mkdir(parents=True, exist_ok=True)
    for r in read_pairs_manifest(pairs_out):
        truth = np.asarray(Image.open(pairs_out / "images" / f"{r['stem']}.png"))
        hole = np.asarray(Image.open(pairs_out / "masks" / f"{r['stem']}.png")) > 0
        out = truth if fn is None else fn(truth, hole)
        Image.fromarray(out).save(folder / name.format(stem=r["stem"]))
    return folder


def rows(out: Path) -> list[dict]:
    with open(out / "per_image.csv", newline="") as f:
        return list(csv.DictReader(f))


def first_stem(pairs_out: Path) -> str:
    return read_pairs_manifest(pairs_out)[0]["stem"]


def test_lama_and_stem_named_predictions_score_like_the_truth(pairs_out, photo_dir, masks, tmp_path):
    lama = predictions(pairs_out, tmp_path / "lama")
    iopaint = predictions(pairs_out, tmp_path / "io", "{stem}.png", fn=lambda t, h: np.where(h[..., None], 0, t).astype(np.uint8))
    out = tmp_path / "r"
    result = run_eval(photo_dir, masks, out, f"lama=folder:{lama}", f"black=folder:{iopaint}", "identity")
    assert result.exit_code == 0, result.output
    by = {}
    for r in rows(out):
        by.setdefault(r["method"], []).append(r)
    assert len(by["lama"]) == len(by["black"]) == 12
    assert all(float(r["l1"]) == 0 for r in by["lama"]) and all(float(r["l1"]) > 0 for r in by["black"])
    info = orjson.loads((out / "results.json").read_bytes())
    assert info["protocol"]["predictions"]["lama"]["files"] == 12 and info["protocol"]["resize_preds"] is False
    assert info["protocol"]["counts"]["lama"]["all/all"] == 12 and "composite" in info["protocol"]


def test_known_pixels_are_composited_and_their_drift_reported(pairs_out, photo_dir, masks, tmp_path):
    """Inverted polarity: the output keeps the hole and repaints the known pixels; scores as the hole, warns."""
    wrong = predictions(pairs_out, tmp_path / "inv", fn=lambda t, h: np.where(h[..., None], t, 255 - t).astype(np.uint8))
    out = tmp_path / "r"
    result = run_eval(photo_dir, masks, out, f"inv=folder:{wrong}")
    assert result.exit_code == 0, result.output
    assert all(float(r["l1"]) == 0 for r in rows(out))  # composited: only the hole (here exact) is scored
    assert all(float(r["known_drift"]) > 50 for r in rows(out))
    assert "inverted mask polarity" in result.output
    assert "inverted mask polarity" in (out / "report.md").read_text() and "inverted mask polarity" in (out / "report.html").read_text()
    assert "12 image(s) had an identical output" in (out / "report.md").read_text()  # each image once, not per cell
    assert re.search(r"\n\| L1 \(%\) ↓ \| inv ⚠ drift \d+\.\d \| 0\.00", (out / "report.md").read_text())  # flagged in Table 1
    assert "?." not in (out / "report.md").read_text() + (out / "report.html").read_text()
    assert ">inv all (inf)</text>" in (out / "report.html").read_text()  # PSNR plot names the perfect-scoring method
    results = list(csv.DictReader(open(out / "results.csv", newline="")))
    assert float(results[-1]["known_drift"]) > 50


def test_missing_prediction_stops_before_any_score_naming_method_and_stem(pairs_out, photo_dir, masks, tmp_path):
    lama = predictions(pairs_out, tmp_path / "lama")
    stem = first_stem(pairs_out)
    (lama / f"{stem}_mask000.png").unlink()
    out = tmp_path / "r"
    result = run_eval(photo_dir, masks, out, "telea", f"lama=folder:{lama}")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "method lama" in result.output and stem in result.output and "missing" in result.output
    assert not (out / "per_image.csv").exists()
    assert "--limit of its config.json" in result.output  # the likely cause: eval run with other options than the pairs


@pytest.mark.parametrize("bad", ["unreadable", "bomb", "grey", "16bit", "size"])
def test_bad_prediction_files_stop_naming_method_and_stem(pairs_out, photo_dir, masks, tmp_path, bad):
    lama = predictions(pairs_out, tmp_path / "lama")
    stem = first_stem(pairs_out)
    path = lama / f"{stem}_mask000.png"
    if bad == "unreadable":
        path.write_bytes(b"not a png")
    elif bad == "bomb":  # a decompression bomb's header: PIL's DecompressionBombError is no OSError
        save_bomb_png(path)
    elif bad == "grey":
        Image.open(path).convert("L").save(path)
    elif bad == "16bit":
        Image.fromarray(np.zeros((64, 64), np.uint16)).save(path)
    else:
        Image.open(path).resize((32, 32)).save(path)
    result = run_eval(photo_dir, masks, tmp_path / "r", f"lama=folder:{lama}")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"method lama, pair {stem}" in result.output
    assert {"unreadable": "not a readable image", "bomb": "too large to decode safely", "grey": "mode L", "16bit": "mode I", "size": "--resize-preds"}[bad] in result.output
    if bad == "size":  # pairs written with another --size: the likely cause, named before the resize escape
        assert "the --size of `inpaint pairs`" in result.output


def test_resize_preds_rgba_jpeg_and_extra_files_warn_and_are_recorded(pairs_out, photo_dir, masks, tmp_path):
    lama = predictions(pairs_out, tmp_path / "lama")
    stems = [r["stem"] for r in read_pairs_manifest(pairs_out)]
    Image.open(lama / f"{stems[0]}_mask000.png").resize((128, 128), Image.BICUBIC).save(lama / f"{stems[0]}_mask000.png")
    Image.open(lama / f"{stems[1]}_mask000.png").convert("RGBA").save(lama / f"{stems[1]}_mask000.png")
    (lama / f"{stems[2]}_mask000.png").unlink()
    Image.open(pairs_out / "images" / f"{stems[2]}.png").save(lama / f"{stems[2]}.jpg", quality=95)
    shutil.copy(lama / f"{stems[3]}_mask000.png", lama / "other_split_0001.png")
    out = tmp_path / "r"
    result = run_eval(photo_dir, masks, out, f"lama=folder:{lama}", extra=["--resize-preds"])
    assert result.exit_code == 0, result.output
    for words in ("RGBA (alpha dropped)", "JPEG", "resized (bicubic)", "other_split_0001.png"):
        assert words in result.output, words
    info = orjson.loads((out / "results.json").read_bytes())
    assert info["protocol"]["resize_preds"] == "bicubic to the evaluation size" and info["config"]["resize_preds"]
    by = {r["image"] + r["mask"]: float(r["l1"]) for r in rows(out)}
    assert len(by) == 12 and sorted(by.values())[:9] == [0.0] * 9  # RGBA and the untouched ones are exact


def test_changed_predictions_are_refused_on_resume_and_no_score_is_lost(pairs_out, photo_dir, masks, tmp_path):
    lama = predictions(pairs_out, tmp_path / "lama")
    out = tmp_path / "r"
    assert run_eval(photo_dir, masks, out, f"lama=folder:{lama}", "telea").exit_code == 0
    before = (out / "per_image.csv").read_bytes()
    assert run_eval(photo_dir, masks, out, f"lama=folder:{lama}", "telea").exit_code == 0  # unchanged: resumes
    stem = first_stem(pairs_out)
    path = lama / f"{stem}_mask000.png"
    Image.fromarray(255 - np.asarray(Image.open(path))).save(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    result = run_eval(photo_dir, masks, out, f"lama=folder:{lama}", "telea")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "method lama" in result.output and "changed" in result.output and stem in result.output
    assert (out / "per_image.csv").read_bytes() == before


def test_folder_method_needs_a_folder(photo_dir, masks, tmp_path):
    result = run_eval(photo_dir, masks, tmp_path / "r", f"lama=folder:{tmp_path / 'nowhere'}")
    assert result.exit_code == 1 and "no such folder" in result.output and "Traceback" not in result.output
