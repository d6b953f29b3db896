"""Validation during training: a fixed bucketed set, the eval metrics in log.csv and TensorBoard, best.pt."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image

from qdimd.buckets import bucket_of, hole_ratio
from inpaint.evaluation.metrics import image_metrics
from inpaint.nn.models import create_model
from inpaint.checkpoint import read_checkpoint
from inpaint.training.loop import TrainConfig, train
from inpaint.training.validate import BEST_KEY, build_val_set, columns, score

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16")


def test_default_val_set_is_a_seeded_bucketed_split_from_the_test_categories(copy_photos, tmp_path):
    photos = copy_photos(tmp_path / "val", 12)
    pairs = build_val_set(str(photos), (32, 32), seed=4)
    assert len(pairs) == 12 and len({p.image for p in pairs}) >= 6          # photos spread over the cells
    assert {p.bucket for p in pairs} == {1, 2, 3, 4, 5, 6}                  # one per (bucket, group) cell
    for p in pairs:
        assert p.hole.shape == (32, 32) and bucket_of(hole_ratio(p.hole)) == p.bucket
    again = build_val_set(str(photos), (32, 32), seed=4)
    assert all(a.image == b.image and np.array_equal(a.hole, b.hole) for a, b in zip(pairs, again))
    other = build_val_set(str(photos), (32, 32), seed=5)
    assert not all(np.array_equal(a.hole, b.hole) for a, b in zip(pairs, other))
    assert columns(pairs)[:3] == ["val_hole_l1", "val_psnr", "val_ssim"] and "val_b6_ssim" in columns(pairs)


def test_score_uses_the_eval_metrics_on_the_composite(copy_photos, tmp_path):
    photos = copy_photos(tmp_path / "val", 3)
    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((32, 32), np.uint8)
    hole[8:16, 8:16] = 255                                               # ratio 1/16: bucket 1
    Image.fromarray(hole).save(masks / "a.png")
    pairs = build_val_set(str(photos), (32, 32), seed=0, masks=str(masks))
    assert len(pairs) == 1 and pairs[0].bucket == 1
    model = create_model("sim0", image_size=32, width=0.125)
    scores = score(model, pairs, torch.device("cpu"))
    assert set(scores) == set(columns(pairs)) and model.training
    assert scores["val_hole_l1"] == scores["val_b1_hole_l1"] > 0 and 0 < scores["val_ssim"] <= 1
    from inpaint.fill.unet import fill_image
    from inpaint.training.photos import decode_photo

    gt = decode_photo(pairs[0].image, (32, 32))
    filled = fill_image(model.eval(), gt, pairs[0].hole)
    expected = image_metrics(filled, gt)
    assert scores["val_psnr"] == pytest.approx(expected["psnr"], abs=0.05)
    assert scores["val_hole_l1"] == pytest.approx(expected["l1"] * 16, rel=0.02)   # the same error over the hole only


def test_validation_goes_to_log_csv_tensorboard_and_best_pt(copy_photos, photo_dir, tmp_path):
    val = copy_photos(tmp_path / "val", 6)
    run = tmp_path / "run"
    config = TrainConfig(model="pconv", images=str(photo_dir), out=str(run), size=(32, 32), width=0.125, batch_size=2,
                         max_steps=4, lr=2e-3, allow_random_vgg=True, vgg_width=0.125, device="cpu", log_every=2,
                         val_every=2, val_images=str(val), checkpoint_every=10)
    result = train(config)
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["2", "4"]
    values = [float(r[BEST_KEY]) for r in rows]
    assert all(math.isfinite(v) for v in values) and all(float(r["val_ssim"]) > 0 for r in rows)
    best = read_checkpoint(run / "best.pt")
    assert best["best"]["score"] == pytest.approx(min(values), rel=1e-5) and best["step"] == 2 + 2 * values.index(min(values))
    assert result.best["step"] == best["step"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/total", "train/grad_norm", "val/hole_l1", "val/b1_psnr"} <= set(tags)
    logged = [e.value for e in events.Scalars("val/hole_l1")]
    assert logged == pytest.approx(values, rel=1e-5)
