"""Training end to end: learning on real photos, exact resume, fine-tuning, 2-process DDP (gloo), options."""
from __future__ import annotations

import csv
import os
import socket
import warnings
from dataclasses import replace

import pytest
import torch
import torch.multiprocessing as mp

from qdimd.errors import InputError, ProblemLog
from inpaint.nn.models import create_model
from inpaint.nn.unet import he_init
from inpaint.training.batches import model_inputs
from inpaint.checkpoint import load_checkpoint, read_checkpoint
from inpaint.training.data import DataConfig, InpaintDataset, training_files
from inpaint.training.distributed import DistInfo
from inpaint.training.loop import TrainConfig, model_kwargs, resolve_config, train

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16")


def tiny(photo_dir, out, **kw) -> TrainConfig:
    base = dict(model="pconv", images=str(photo_dir), out=str(out), size=(64, 64), width=0.125, batch_size=4,
                max_steps=6, lr=2e-3, allow_random_vgg=True, vgg_width=0.125, checkpoint_every=4, log_every=2,
                sample_every=3, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def rows(run) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def collect(config, stop_at=None):
    seen = []

    def on_step(step, losses):
        seen.append((step, dict(losses)))
        if step == stop_at:
            raise KeyboardInterrupt

    try:
        result = train(config, on_step=on_step)
    except KeyboardInterrupt:
        result = None
    return seen, result


def test_tiny_model_learns_on_real_photos(photo_dir, tmp_path):
    config = tiny(photo_dir, tmp_path / "run", max_steps=20, sample_every=20, log_every=4)
    data = InpaintDataset(training_files(photo_dir, ProblemLog()), DataConfig((64, 64), seed=99))
    held = [data[50000 + i] for i in range(8)]            # masks and photo crops never trained on
    x, valid, _ = model_inputs(torch.utils.data.default_collate(held), torch.device("cpu"))

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
    log = rows(run)
    assert list(log[0])[:10] == ["step", "samples", "total", "valid", "hole", "perceptual", "style", "tv", "grad_norm", "bad_steps"]
    assert [int(r["samples"]) for r in log] == [4 * int(r["step"]) for r in log]
    assert [int(r["step"]) for r in log] == [4, 8, 12, 16, 20] and all(r["bad_steps"] == "0" for r in log)
    assert (run / "scan-images.json").is_file()                   # the header scan, reused by --resume


def test_log_rows_are_interval_means_read_without_per_step_values(photo_dir, tmp_path):
    seen, result = collect(tiny(photo_dir, tmp_path / "r", size=(32, 32), batch_size=2, max_steps=6, log_every=3))
    assert [s for s, _ in seen] == list(range(1, 7))
    assert seen[0][1] == {} and seen[1][1] == {}                  # nothing read before the first row
    log = rows(tmp_path / "r")
    assert seen[2][1]["total"] == pytest.approx(float(log[0]["total"]), rel=1e-5)
    assert seen[3][1] == seen[2][1] and result.losses == seen[5][1]
    assert float(log[1]["grad_norm"]) > 0


def test_resume_after_interrupt_is_exact(photo_dir, tmp_path):
    small = dict(size=(32, 32), batch_size=2, max_steps=6, checkpoint_every=2, log_every=2, keep_checkpoints=2)
    _, reference = collect(tiny(photo_dir, tmp_path / "a", **small))
    collect(tiny(photo_dir, tmp_path / "b", **small), stop_at=4)               # Ctrl-C after step 4
    assert read_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 4
    with pytest.raises(InputError, match="--resume"):
        train(tiny(photo_dir, tmp_path / "b", **small))
    with pytest.raises(InputError, match="--batch-size"):
        train(tiny(photo_dir, tmp_path / "b", **{**small, "batch_size": 3}, resume=True))
    _, result = collect(tiny(photo_dir, tmp_path / "b", **small, resume=True))
    assert [(r["step"], r["total"]) for r in rows(tmp_path / "b")] == [(r["step"], r["total"]) for r in rows(tmp_path / "a")]
    for k, v in reference.model.state_dict().items():
        assert torch.equal(v, result.model.state_dict()[k]), k                 # bit-identical weights
    model, info = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert info["step"] == 6 and info["model"] == "pconv" and not model.training
    kept = sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir())
    assert kept == ["step-0000002.pt", "step-0000006.pt"]   # the 2 newest (step 4 went to checkpoint.pt at Ctrl-C)


def test_finetune_freezes_encoder_bn(photo_dir, tmp_path):
    collect(tiny(photo_dir, tmp_path / "base", max_steps=2, size=(32, 32), batch_size=2))
    config = tiny(photo_dir, tmp_path / "ft", max_steps=2, lr=None, size=(32, 32), batch_size=2, finetune=True,
                  init_from=str(tmp_path / "base" / "checkpoint.pt"))
    assert resolve_config(config).lr == 5e-5
    base, _ = load_checkpoint(tmp_path / "base" / "checkpoint.pt")
    tuned = train(config).model
    for i in range(1, len(base.enc_bn)):
        assert torch.equal(base.enc_bn[i].running_mean, tuned.enc_bn[i].running_mean)
        assert torch.equal(base.enc_bn[i].weight, tuned.enc_bn[i].weight)
    assert not torch.equal(base.dec_bn[0].running_mean, tuned.dec_bn[0].running_mean)
    with pytest.raises(ValueError, match="--finetune"):
        resolve_config(replace(config, init_from=None))


def test_init_from_starts_a_new_run_and_is_strict_about_shapes(photo_dir, tmp_path):
    collect(tiny(photo_dir, tmp_path / "base", max_steps=2, size=(32, 32), batch_size=2))
    base = read_checkpoint(tmp_path / "base" / "checkpoint.pt")["state_dict"]
    # another batch size, schedule and seed, the same network shape
    config = tiny(photo_dir, tmp_path / "new", max_steps=1, size=(32, 32), batch_size=3, lr=1e-9, seed=8,
                  init_from=str(tmp_path / "base" / "checkpoint.pt"))
    result = train(config)
    assert read_checkpoint(tmp_path / "new" / "checkpoint.pt")["step"] == 1       # a new run, counted from 0
    assert torch.allclose(result.model.enc[0].weight, base["enc.0.weight"], atol=1e-6)
    with pytest.raises(InputError, match="do not fit"):
        train(replace(config, out=str(tmp_path / "wide"), width=0.25))


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
    # Iskakov 5.1: Sim-K trains without mask augmentation; PConv with it; either can be overridden
    assert resolve_config(tiny(photo_dir, tmp_path, model="sim0")).augment_masks is False
    assert resolve_config(tiny(photo_dir, tmp_path)).augment_masks is True
    assert resolve_config(tiny(photo_dir, tmp_path, model="sim0", augment_masks=True)).augment_masks is True
    assert resolve_config(tiny(photo_dir, tmp_path, workers=None)).workers >= 1
    for bad, match in ((dict(ema=1.0), "--ema"), (dict(clip_grad=0.0), "--clip-grad"), (dict(val_every=5), "--val-images"),
                       (dict(keep_checkpoints=-1), "--keep-checkpoints"), (dict(max_bad_steps=0), "--max-bad-steps")):
        with pytest.raises(ValueError, match=match):
            resolve_config(tiny(photo_dir, tmp_path, **bad))


def test_loss_weights_reach_the_loss_and_the_checkpoint(photo_dir, tmp_path):
    config = tiny(photo_dir, tmp_path / "w", size=(32, 32), batch_size=2, max_steps=2, loss_weights=(0, 1, 0, 0, 0))
    collect(config)
    last = rows(tmp_path / "w")[-1]
    assert float(last["total"]) == pytest.approx(float(last["hole"]))
    saved = TrainConfig.from_dict(read_checkpoint(tmp_path / "w" / "checkpoint.pt")["config"])
    assert saved.loss_weights == (0.0, 1.0, 0.0, 0.0, 0.0)
    with pytest.raises(InputError, match="--loss-weights"):
        train(replace(config, resume=True, max_steps=3, loss_weights=(1, 6, 0.05, 120, 0.1)))


def test_worker_processes_give_the_same_run(photo_dir, tmp_path):
    small = dict(size=(32, 32), batch_size=2, max_steps=2, log_every=1)
    a = train(tiny(photo_dir, tmp_path / "a", **small)).model.state_dict()
    b = train(tiny(photo_dir, tmp_path / "b", workers=2, **small)).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    drop = lambda log: [{k: v for k, v in r.items() if k != "images_per_s"} for r in log]  # noqa: E731
    assert drop(rows(tmp_path / "a")) == drop(rows(tmp_path / "b"))
