"""torch before 2.5 refuses ``torch.autocast("mps", ...)`` even with ``enabled=False``: PConv's mask statistics, the
Gram matrix, a training step and validation must still run there (they only switch autocast off)."""
from __future__ import annotations

import contextlib

import pytest
import torch

from inpaint.device import autocast


@pytest.fixture()
def old_torch_autocast(monkeypatch):
    """``torch.autocast`` as torch 2.1-2.4 behaves on a device it has no autocast for (here: the CPU)."""
    real = torch.autocast

    def refusing(device_type, *args, **kwargs):
        if device_type == "cpu":
            raise RuntimeError("User specified an unsupported autocast device_type 'mps'")
        return real(device_type, *args, **kwargs)

    monkeypatch.setattr(torch, "autocast", refusing)


def test_autocast_off_is_a_null_context_where_torch_refuses_the_device(old_torch_autocast):
    assert isinstance(autocast("cpu", enabled=False), contextlib.nullcontext)
    with pytest.raises(RuntimeError, match="unsupported autocast"):
        autocast("cpu", dtype=torch.bfloat16, enabled=True)


def test_pconv_loss_and_step_run_where_torch_refuses_autocast(old_torch_autocast):
    from inpaint.nn.models import create_model
    from inpaint.training.losses import InpaintingLoss
    from inpaint.training.step import Stepper, make_optimizer

    model = create_model("pconv", image_size=32, width=0.125)
    optimizer, fused = make_optimizer(model.parameters(), 1e-4, torch.device("cpu"))
    stepper = Stepper(model, model, InpaintingLoss(None), optimizer, fused, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    batch = {"image": torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=gen),
             "hole": (torch.rand(2, 1, 32, 32, generator=gen) < 0.3).to(torch.uint8)}
    stepper.step(batch)
    assert stepper.read()["bad_steps"] == 0


def test_gram_matrix_where_torch_refuses_autocast(old_torch_autocast):
    from inpaint.training.losses import gram_matrix

    f = torch.ones(1, 2, 3, 3)
    assert torch.allclose(gram_matrix(f), torch.full((1, 2, 2), 0.5))
