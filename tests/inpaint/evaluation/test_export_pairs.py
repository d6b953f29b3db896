"""``inpaint pairs``: the pairs ``inpaint eval`` scores, written in LaMa's, IOPaint's and MAT's layouts."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import nvidia_style_folder, pairs_cli
from PIL import Image

from cli.inpaint_main import main
from inpaint.evaluation.evaluate import EvalConfig, evaluate_methods
from inpaint.evaluation.export_pairs import plan_pairs, read_pairs_manifest, write_pairs
from inpaint.evaluation.pairing import Pair, pair_stem
from qdimd.errors import InputError

SIZE = (64, 64)


@pytest.fixture(scope="module")
def masks(tmp_path_factory) -> Path:
    return nvidia_style_folder(tmp_path_factory.mktemp("masks"), per_group=2)


@pytest.fixture(scope="module")
def pairs_out(photo_dir, masks, tmp_path_factory) -> Path:
    return pairs_cli(photo_dir, masks, tmp_path_factory.mktemp("pairs") / "p", "--seed", "3", "--limit", "2")


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im)


def test_pairs_and_eval_agree_pair_for_pair(pairs_out, photo_dir, masks, tmp_path):
    """The pairs' images scored as predictions give L1 0 on every row: same photos, same crop, same masks."""
    rows = read_pairs_manifest(pairs_out)
    out = tmp_path / "eval"
    evaluate_methods(EvalConfig(str(photo_dir), str(masks), (f"truth=folder:{pairs_out / 'images'}",), str(out),
                                seed=3, limit=2, size=SIZE, metrics=("l1",)))
    with open(out / "per_image.csv", newline="") as f:
        scored = list(csv.DictReader(f))
    assert len(scored) == len(rows) == 24
    key = ("bucket", "group", "index", "image", "mask")
    assert sorted(tuple(str(r[k]) for k in key) for r in scored) == sorted(tuple(str(r[k]) for k in key) for r in rows)
    assert all(float(r["l1"]) == 0.0 and float(r["known_drift"]) == 0.0 for r in scored)
    by_key = {tuple(str(r[k]) for k in key): r for r in scored}
    for r in rows:
        assert float(by_key[tuple(str(r[k]) for k in key)]["hole"]) == pytest.approx(float(r["hole_ratio"]))


def test_every_layout_holds_the_same_lossless_pair(pairs_out):
    rows = read_pairs_manifest(pairs_out)
    assert list(rows[0])[:8] == ["stem", "image", "mask", "bucket", "group", "index", "hole_ratio", "height"]
    stems = [r["stem"] for r in rows]
    assert len({s.lower() for s in stems}) == len(stems) and not any("mask" in s.lower() for s in stems)
    for r in rows:
        s = r["stem"]
        image = _png(pairs_out / "images" / f"{s}.png")
        hole = _png(pairs_out / "masks" / f"{s}.png")
        assert image.shape == (64, 64, 3) and (r["height"], r["width"]) == ("64", "64")
        assert set(np.unique(hole)) <= {0, 255} and hole.mean() / 255 == pytest.approx(float(r["hole_ratio"]))
        assert np.array_equal(_png(pairs_out / "lama" / f"{s}.png"), image)
        assert np.array_equal(_png(pairs_out / "lama" / f"{s}_mask000.png"), hole)
        assert np.array_equal(_png(pairs_out / "masks_keep" / f"{s}.png"), 255 - hole)
        assert r["group"] in ("noborder", "border") and 1 <= int(r["bucket"]) <= 6
    # LaMa's loader: every *mask*.png is a mask and its image is the name before "_mask" + ".png"
    lama = sorted(p.name for p in (pairs_out / "lama").glob("*mask*.png"))
    assert [n.rsplit("_mask", 1)[0] + ".png" for n in lama] == sorted(f"{s}.png" for s in stems)


def test_stems_drop_mask_and_stay_unique_ignoring_case():
    pairs = [Pair(1, "noborder", 0, "Mask/MASKED.JPG", "a.png"), Pair(1, "noborder", 1, "masked.png", "a.png"),
             Pair(1, "border", 0, "x/MASKED.png", "a.png")]
    stems = [pair_stem(p) for p in pairs]
    assert all("mask" not in s.lower() for s in stems)
    assert len({s.lower() for s in stems}) == 3 and stems[0] == "1N_00000_mskED"


@pytest.mark.parametrize("where", ["images", "masks", "inside_images", "parent"])
def test_an_out_overlapping_an_input_is_refused(tmp_path, copy_photos, masks, where):
    photos = copy_photos(tmp_path / "photos", 2)
    out = {"images": photos, "masks": masks, "inside_images": photos / "pairs", "parent": tmp_path}[where]
    result = CliRunner().invoke(main, ["pairs", "--images", str(photos), "--masks", str(masks), "--out", str(out),
                                       "--size", "64"])
    assert result.exit_code == 1 and "--out" in result.output and ("is the input" in result.output or "holds the input" in result.output or "lies inside the input" in result.output) and "Traceback" not in result.output
    assert not (photos / "pairs").exists() and len(list(photos.iterdir())) == 2


def test_a_rerun_with_other_options_is_refused(pairs_out, photo_dir, masks):
    config = EvalConfig(str(photo_dir), str(masks), (), str(pairs_out), seed=4, limit=2, size=SIZE)
    with pytest.raises(InputError, match="seed differ"):
        plan_pairs(config)
    same = plan_pairs(EvalConfig(str(photo_dir), str(masks), (), str(pairs_out), seed=3, limit=2, size=SIZE))
    before = (pairs_out / "manifest.csv").read_bytes()
    assert len(list(write_pairs(same))) == 24 and (pairs_out / "manifest.csv").read_bytes() == before
