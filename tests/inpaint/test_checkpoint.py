"""Checkpoints: clear errors, never a non-finite value, pruning, EMA weights, RNG states for the GPUs present."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from qdimd.errors import InputError
from inpaint.nn.models import create_model
from inpaint import checkpoint as ckpt
from inpaint.checkpoint import (NonFiniteError, checkpoint_payload, load_checkpoint, prune_checkpoints,
                                         save_checkpoint, step_path, write_checkpoint)

KW = {"image_size": 32, "width": 0.125}


def test_checkpoint_errors(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save(create_model("pconv", **KW).state_dict(), tmp_path / "plain.pt")
    with pytest.raises(InputError, match="not an inpaint checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    torch.save({"format": "inpaint-checkpoint", "x": np.float64(1.0)}, tmp_path / "unsafe.pt")
    with pytest.raises(InputError, match="weights_only"):
        load_checkpoint(tmp_path / "unsafe.pt")


def test_a_non_finite_value_is_never_written(tmp_path):
    model = create_model("pconv", **KW)
    with torch.no_grad():
        model.enc[0].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="non-finite"):
        save_checkpoint(tmp_path / "c.pt", model, model_name="pconv", model_kwargs=KW, step=1, config={})
    assert not (tmp_path / "c.pt").exists()
    good = create_model("pconv", **KW)
    payload = checkpoint_payload(good, model_name="pconv", model_kwargs=KW, step=2, config={}, ema=model)
    with pytest.raises(NonFiniteError, match="ema_state_dict"):
        write_checkpoint(tmp_path / "c.pt", payload)


def test_ema_weights_load_on_request_and_step_copies_are_pruned(tmp_path):
    model, ema = create_model("pconv", **KW), create_model("pconv", **KW)
    paths = [tmp_path / "checkpoint.pt"] + [step_path(tmp_path, s) for s in (10, 20, 30)]
    write_checkpoint(paths, checkpoint_payload(model, model_name="pconv", model_kwargs=KW, step=30, config={}, ema=ema))
    loaded, _ = load_checkpoint(tmp_path / "checkpoint.pt", ema=True)
    assert all(torch.equal(v, ema.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert prune_checkpoints(tmp_path, 2) == [step_path(tmp_path, 10)]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-0000020.pt", "step-0000030.pt"]
    save_checkpoint(tmp_path / "plain.pt", model, model_name="pconv", model_kwargs=KW, step=0, config={})
    with pytest.raises(InputError, match="no EMA"):
        load_checkpoint(tmp_path / "plain.pt", ema=True)


def test_cuda_rng_states_are_restored_only_for_the_devices_present(monkeypatch):
    """A checkpoint from a 4-GPU machine resumes on 1 GPU (and on none)."""
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append(device))
    state = {"torch": torch.get_rng_state(), "cuda": [torch.zeros(8, dtype=torch.uint8)] * 4}
    ckpt.set_rng_state(state)
    assert restored == [0]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ckpt.set_rng_state(state)
    assert restored == [0]


def test_pruning_deletes_only_step_checkpoints_never_through_a_link(tmp_path):
    model = create_model("pconv", **KW)
    write_checkpoint([step_path(tmp_path, s) for s in (10, 20)],
                     checkpoint_payload(model, model_name="pconv", model_kwargs=KW, step=20, config={}))
    (tmp_path / "checkpoints" / "step-best-mine.pt").write_bytes(b"user copy")
    (tmp_path / "checkpoints" / "step-0000005.pt.bak").write_bytes(b"user copy")
    assert prune_checkpoints(tmp_path, 0) == [step_path(tmp_path, 10), step_path(tmp_path, 20)]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-0000005.pt.bak", "step-best-mine.pt"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "step-0000001.pt").write_bytes(b"not this run's")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoints").symlink_to(elsewhere, target_is_directory=True)
    assert prune_checkpoints(tmp_path / "run", 0) == [] and (elsewhere / "step-0000001.pt").exists()
