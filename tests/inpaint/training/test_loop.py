"""Training: learning on real photos, exact resume, 2-process DDP (gloo), checkpoints, data."""
from __future__ import annotations

import os
import socket
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from qdimd.errors import InputError, ProblemLog
from inpaint.training.checkpoint import load_checkpoint, read_checkpoint
from inpaint.training.data import DataConfig, InpaintDataset, StepBatchSampler, training_files
from inpaint.training.distributed import DistInfo
from inpaint.nn.models import create_model
from inpaint.training.loop import TrainConfig, model_kwargs, resolve_config, train
from inpaint.nn.unet import he_init

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16")


def tiny(photo_dir, out, **kw) -> TrainConfig:
    base = dict(model="pconv", images=str(photo_dir), out=str(out), size=(64, 64), width=0.125, batch_size=4,
                max_steps=6, lr=2e-3, allow_random_vgg=True, vgg_width=0.125, checkpoint_every=4, log_every=2,
                sample_every=3, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def collect(config, stop_at=None):
    losses = []

    def on_step(step, terms):
        losses.append((step, terms["total"]))
        if step == stop_at:
            raise KeyboardInterrupt

    try:
        result = train(config, on_step=on_step)
    except KeyboardInterrupt:
        result = None
    return losses, result


def test_tiny_model_learns_on_real_photos(photo_dir, tmp_path):
    config = tiny(photo_dir, tmp_path / "run", max_steps=20, sample_every=20, log_every=4)
    data = InpaintDataset(training_files(photo_dir, ProblemLog()), DataConfig((64, 64), seed=99))
    held = [data[50000 + i] for i in range(8)]            # masks and photo crops never trained on
    x = torch.stack([h["image"] for h in held])
    valid = torch.stack([h["valid"] for h in held])

    def hole_l1(model):
        with torch.no_grad():
            out = model.eval()(x * valid, valid)
        return float(((1 - valid) * (out - x)).abs().sum() / (3 * (1 - valid).sum()))

    start = create_model("pconv", **model_kwargs(resolve_config(config)))
    he_init(start, torch.Generator().manual_seed(config.seed))     # the run's initial weights
    before = hole_l1(start)
    after = hole_l1(train(config).model)
    assert after < 0.5 * before, (before, after)
    run = tmp_path / "run"
    assert (run / "samples" / "step-0000020.png").is_file()
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,total,valid,hole,perceptual,style,tv") and len(rows) == 6


def test_resume_after_interrupt_is_exact(photo_dir, tmp_path):
    small = dict(size=(32, 32), batch_size=2, max_steps=6, checkpoint_every=2, log_every=2)
    reference, _ = collect(tiny(photo_dir, tmp_path / "a", **small))
    first, _ = collect(tiny(photo_dir, tmp_path / "b", **small), stop_at=3)       # Ctrl-C after step 3
    assert read_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 3           # saved at exit, not only at 2
    with pytest.raises(InputError, match="--resume"):
        train(tiny(photo_dir, tmp_path / "b", **small))
    with pytest.raises(InputError, match="--batch-size"):
        train(tiny(photo_dir, tmp_path / "b", **{**small, "batch_size": 3}, resume=True))
    second, result = collect(tiny(photo_dir, tmp_path / "b", **small, resume=True))
    assert [s for s, _ in first + second] == list(range(1, 7))
    assert first + second == reference                     # bit-identical loss sequence
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [2, 4, 6]
    model, info = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert info["step"] == 6 and info["model"] == "pconv" and not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, result.model.state_dict()[k]), k


def test_finetune_freezes_encoder_bn(photo_dir, tmp_path):
    collect(tiny(photo_dir, tmp_path / "base", max_steps=2, size=(32, 32), batch_size=2))
    config = tiny(photo_dir, tmp_path / "ft", max_steps=2, lr=None, size=(32, 32), batch_size=2, finetune=True, init_from=str(tmp_path / "base" / "checkpoint.pt"))
    assert resolve_config(config).lr == 5e-5
    base, _ = load_checkpoint(tmp_path / "base" / "checkpoint.pt")
    tuned = train(config).model
    for i in range(1, len(base.enc_bn)):
        assert torch.equal(base.enc_bn[i].running_mean, tuned.enc_bn[i].running_mean)
        assert torch.equal(base.enc_bn[i].weight, tuned.enc_bn[i].weight)
    assert not torch.equal(base.dec_bn[0].running_mean, tuned.dec_bn[0].running_mean)
    with pytest.raises(ValueError, match="--finetune"):
        resolve_config(replace(config, init_from=None))


def _ddp_worker(rank, port, config, path):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    result = train(config, dist_info=DistInfo(rank, 2, rank))
    torch.save(result.model.state_dict(), f"{path}/rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_gloo_match_one_process(photo_dir, tmp_path):
    """2 processes x batch 1 (averaged gradients) == 1 process x batch 2 for a BatchNorm-free Sim-0."""
    ddp = tiny(photo_dir, tmp_path / "ddp", model="sim0", batch_size=1, max_steps=3, checkpoint_every=10, size=(32, 32))
    mp.spawn(_ddp_worker, args=(_free_port(), ddp, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    single = train(replace(ddp, out=str(tmp_path / "one"), batch_size=2)).model.state_dict()
    saved = read_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    assert saved["step"] == 3
    diffs = []
    for k in single:
        assert torch.equal(ranks[0][k], ranks[1][k]), k
        assert torch.equal(saved["state_dict"][k], ranks[0][k])
        diffs.append((ranks[0][k] - single[k]).abs().flatten())
    diff = torch.cat(diffs)
    # equal up to float rounding, which Adam's m / sqrt(v) can magnify to a step of lr where a gradient is ~0
    assert (diff > 1e-4).float().mean() < 1e-3 and diff.max() <= 2 * ddp.lr * ddp.max_steps


def test_checkpoint_errors(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save(create_model("pconv", image_size=32, width=0.125).state_dict(), tmp_path / "plain.pt")
    with pytest.raises(InputError, match="not an inpaint checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    torch.save({"format": "inpaint-checkpoint", "x": np.float64(1.0)}, tmp_path / "unsafe.pt")
    with pytest.raises(InputError, match="weights_only"):
        load_checkpoint(tmp_path / "unsafe.pt")


def test_option_combinations(photo_dir, tmp_path):
    with pytest.raises(ValueError, match="--db"):
        resolve_config(tiny(photo_dir, tmp_path, model="sim1"))
    with pytest.raises(ValueError, match="multiples of 128"):
        resolve_config(tiny(photo_dir, tmp_path, model="pconv256"))
    with pytest.raises(ValueError, match="Expected --model"):
        resolve_config(tiny(photo_dir, tmp_path, model="unet"))
    assert resolve_config(tiny(photo_dir, tmp_path, model="sim0", batch_size=None, lr=None)).batch_size == 12
    assert resolve_config(tiny(photo_dir, tmp_path, batch_size=None, lr=None)).lr == 2e-4
    assert resolve_config(tiny(photo_dir, tmp_path, model="sim0", lr=None)).lr == 1e-4
    for bad in ((1.0, 6.0), (1.0, 6.0, 0.05, -1.0, 0.1)):
        with pytest.raises(ValueError, match="--loss-weights"):
            resolve_config(tiny(photo_dir, tmp_path, loss_weights=bad))


def test_loss_weights_reach_the_loss_and_the_checkpoint(photo_dir, tmp_path):
    config = tiny(photo_dir, tmp_path / "w", size=(32, 32), batch_size=2, max_steps=2, loss_weights=(0, 1, 0, 0, 0))
    losses, _ = collect(config)
    rows = (tmp_path / "w" / "log.csv").read_text().splitlines()[1:]
    total, hole = (float(x) for x in rows[-1].split(",")[1:4:2])
    assert total == pytest.approx(hole) and losses[-1][1] == pytest.approx(hole, rel=1e-5)
    saved = TrainConfig.from_dict(read_checkpoint(tmp_path / "w" / "checkpoint.pt")["config"])
    assert saved.loss_weights == (0.0, 1.0, 0.0, 0.0, 0.0)
    with pytest.raises(InputError, match="--loss-weights"):
        train(replace(config, resume=True, max_steps=3, loss_weights=(1, 6, 0.05, 120, 0.1)))


def test_data_is_a_function_of_seed_and_index(photo_dir, tmp_path):
    bad = tmp_path / "photos"
    bad.mkdir()
    for p in sorted(photo_dir.iterdir())[:3]:
        (bad / p.name).write_bytes(p.read_bytes())
    (bad / "broken.jpg").write_bytes(b"not an image")
    problems = ProblemLog()
    files = training_files(bad, problems)
    assert len(files) == 3 and "broken.jpg" in problems.summary()
    a, b = InpaintDataset(files, DataConfig((64, 64), seed=5)), InpaintDataset(files, DataConfig((64, 64), seed=5))
    for s in (0, 7, 3):
        assert torch.equal(a[s]["image"], b[s]["image"]) and torch.equal(a[s]["valid"], b[s]["valid"])
    assert sorted(a.photo_index(s) for s in range(3)) == [0, 1, 2]     # one epoch visits every photo once
    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((32, 32), np.uint8)
    hole[:16] = 255
    from PIL import Image

    Image.fromarray(hole).save(masks / "m.png")
    item = InpaintDataset(files, DataConfig((64, 64), masks=str(masks)))[4]
    assert item["valid"].shape == (1, 64, 64) and item["valid"][0, :32].sum() == 0 and item["valid"][0, 32:].all()
    batches = list(StepBatchSampler(2, start_step=1, max_steps=3, rank=1, world_size=2))
    assert batches == [[6, 7], [10, 11]]


def test_unreadable_masks_and_photos_are_skipped(photo_dir, tmp_path):
    from PIL import Image

    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((32, 32), np.uint8)
    hole[:16] = 255
    Image.fromarray(hole).save(masks / "a.png")
    noise = (np.random.default_rng(0).random((64, 64)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(noise).save(masks / "b.png")
    (masks / "bad.png").write_bytes(b"not a mask")                             # fails the header scan
    (masks / "b.png").write_bytes((masks / "b.png").read_bytes()[:200])         # header fine, pixels truncated
    problems = ProblemLog()
    from inpaint.training.data import training_masks

    mask_files = training_masks(masks, problems)
    assert [p.name for p in mask_files] == ["a.png", "b.png"] and "bad.png" in problems.summary()
    photos = tmp_path / "photos"
    photos.mkdir()
    good = sorted(photo_dir.iterdir())[0]
    (photos / "a.jpg").write_bytes(good.read_bytes())
    (photos / "b.jpg").write_bytes(good.read_bytes()[:2000])                   # header fine, pixels truncated
    files = training_files(photos, ProblemLog())
    assert len(files) == 2
    data = InpaintDataset(files, DataConfig((32, 32), masks=str(masks)), mask_files=mask_files)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [data[s] for s in range(12)]
    assert all(torch.equal(it["valid"][0, :16], torch.zeros(16, 32)) for it in items)   # every mask is a.png
    assert all(torch.equal(it["image"], items[0]["image"]) for it in items)             # every photo is a.png
    assert sorted(str(w.message).split(":")[0] for w in caught) == [str(masks / "b.png"), str(photos / "b.jpg")]
    with pytest.raises(InputError, match="no readable mask"):
        training_masks(masks / "bad.png", ProblemLog())


def test_resolve_device_rejects_unavailable_devices():
    from inpaint.training.distributed import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="like auto, cpu"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda:0")
    elif torch.cuda.device_count() < 64:
        with pytest.raises(ValueError, match="index below"):
            resolve_device("cuda:63")
