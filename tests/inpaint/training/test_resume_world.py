"""A run resumed with another number of processes continues from the sample where it stopped (gloo, on CPU)."""
from __future__ import annotations

import csv
import os
import socket
import warnings

import pytest
import torch
import torch.multiprocessing as mp

from qdimd.errors import ProblemLog
from inpaint.checkpoint import load_checkpoint, read_checkpoint
from inpaint.training.build import build_val_pairs
from inpaint.training.data import InpaintDataset, StepBatchSampler
from inpaint.training.distributed import DistInfo
from inpaint.training.loop import TrainConfig, resolve_config, train
from inpaint.training.validate import score

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16")


def _config(photo_dir, out, **kw) -> TrainConfig:
    base = dict(model="pconv", images=str(photo_dir), out=str(out), size=(32, 32), width=0.125, batch_size=1,
                max_steps=3, lr=1e-3, allow_random_vgg=True, vgg_width=0.0625, checkpoint_every=100, log_every=1,
                sample_every=100, device="cpu", seed=5, val_every=3, val_images=str(photo_dir),
                dist_timeout=900.0)   # generous: on a loaded CI machine a rank can wait minutes at a collective
    base.update(kw)
    return TrainConfig(**base)


def _worker(rank, port, config):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    train(config, dist_info=DistInfo(rank, 2, rank))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rows(run) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(("world", "batch", "start"), [(2, 3, 0), (3, 2, 7), (1, 4, 30)])
def test_sampler_partitions_the_samples_from_any_start(world, batch, start):
    steps = 4
    got = [s for r in range(world) for b in StepBatchSampler(batch, 10, 10 + steps, r, world, start_sample=start) for s in b]
    assert sorted(got) == list(range(start, start + steps * batch * world))   # no gap, no repeat
    assert next(iter(StepBatchSampler(batch, 2, None, 0, world))) == list(range(2 * batch * world, 2 * batch * world + batch))


def test_resume_two_processes_then_one(photo_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    config = _config(photo_dir, run)
    mp.spawn(_worker, args=(_free_port(), config), nprocs=2, join=True)
    saved = read_checkpoint(run / "checkpoint.pt")
    assert (saved["step"], saved["samples"], saved["world_size"]) == (3, 6, 2)
    rows = _rows(run)
    assert [int(r["samples"]) for r in rows] == [2, 4, 6]
    # validation was shared by the two processes: the same scores as one process scoring every pair
    model, _ = load_checkpoint(run / "checkpoint.pt")
    pairs = build_val_pairs(resolve_config(config), ProblemLog(), run, None)
    assert float(rows[-1]["val_hole_l1"]) == pytest.approx(score(model, pairs, torch.device("cpu"))["val_hole_l1"], rel=1e-4)

    served = []
    getitem = InpaintDataset.__getitem__

    def spy(self, s):
        served.append(s)
        return getitem(self, s)

    monkeypatch.setattr(InpaintDataset, "__getitem__", spy)
    train(_config(photo_dir, run, max_steps=5, resume=True))           # one process now
    assert served == [6, 7]                                            # from sample 6 on: nothing skipped or replayed
    assert [int(r["samples"]) for r in _rows(run)] == [2, 4, 6, 7, 8]
    assert read_checkpoint(run / "checkpoint.pt")["samples"] == 8
