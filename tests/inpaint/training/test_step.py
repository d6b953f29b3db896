"""The step: non-finite steps skipped without touching weights, optimiser or BatchNorm; EMA; clipping; compile."""
from __future__ import annotations

import copy

import pytest
import torch

from inpaint.nn.models import create_model
from inpaint.training.loop import TrainConfig, train
from inpaint.training.losses import InpaintingLoss
from inpaint.training.step import Ema, Stepper, make_optimizer

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16")
CPU = torch.device("cpu")


class PoisonedLoss(torch.nn.Module):
    """The pixel loss, made NaN on the calls listed in ``bad``."""

    def __init__(self, bad=()):
        super().__init__()
        self.loss, self.bad, self.calls = InpaintingLoss(None), set(bad), 0

    def forward(self, output, image, valid):
        self.calls += 1
        terms = self.loss(output, image, valid)
        if self.calls in self.bad:
            terms["total"] = terms["total"] * float("nan")
        return terms


def batch(seed=0, b=2):
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.randint(0, 256, (b, 3, 32, 32), dtype=torch.uint8, generator=g),
            "hole": (torch.rand(b, 1, 32, 32, generator=g) > 0.7).to(torch.uint8)}


def snapshot(model, optimizer):
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()["state"])


@pytest.mark.parametrize("fused", [True, False])
def test_a_non_finite_step_leaves_weights_optimiser_and_batchnorm_untouched(fused):
    model = create_model("pconv", image_size=32, width=0.125).train()
    if fused:
        optimizer, used = make_optimizer(model.parameters(), 1e-3, CPU)
        assert used                                          # torch >= 2.4 has fused Adam on CPU
    else:
        optimizer, used = torch.optim.Adam(model.parameters(), lr=1e-3), False
    stepper = Stepper(model, model, PoisonedLoss(bad={2, 3}), optimizer, used, CPU)
    stepper.step(batch(0))
    before = snapshot(model, optimizer)
    stepper.step(batch(1))                                   # NaN loss: skipped
    stepper.step(batch(2))                                   # and again
    after = snapshot(model, optimizer)
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])     # weights and BN statistics
    for p in before[1]:
        assert all(torch.equal(before[1][p][k], after[1][p][k]) for k in before[1][p])   # moments, step count
    stats = stepper.read()
    assert stats["bad_steps"] == 2 and stats["bad_streak"] == 2
    assert stats["total"] == stats["total"] and stats["grad_norm"] > 0       # the mean of the one finite step
    stepper.step(batch(3))
    assert not torch.equal(before[0]["enc.0.weight"], model.state_dict()["enc.0.weight"])
    assert stepper.read()["bad_steps"] == 0


def test_ema_follows_good_steps_only_and_clipping_bounds_the_update():
    model = create_model("sim0", image_size=32, width=0.125).train()
    optimizer, fused = make_optimizer(model.parameters(), 1e-2, CPU)
    ema = Ema(model, 0.9)
    start = copy.deepcopy(model.state_dict())
    stepper = Stepper(model, model, PoisonedLoss(bad={2}), optimizer, fused, CPU, clip_grad=1e-3, ema=ema)
    stepper.step(batch(0))
    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert grad_norm <= 1e-3 * (1 + 1e-4)
    w = model.state_dict()["enc.0.weight"]
    expected = 0.9 * start["enc.0.weight"] + 0.1 * w
    assert torch.allclose(ema.module.state_dict()["enc.0.weight"], expected, atol=1e-7)
    kept = ema.module.state_dict()["enc.0.weight"].clone()
    stepper.step(batch(1))                                   # skipped: the EMA stays
    assert torch.equal(ema.module.state_dict()["enc.0.weight"], kept)


def test_ema_run_saves_and_validates_ema_weights(photo_dir, tmp_path):
    config = TrainConfig(model="sim0", images=str(photo_dir), out=str(tmp_path / "run"), size=(32, 32), width=0.125,
                         batch_size=2, max_steps=3, lr=1e-3, ema=0.5, allow_random_vgg=True, vgg_width=0.125,
                         device="cpu", log_every=1)
    result = train(config)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(saved["ema_state_dict"][k], v) for k, v in result.ema.state_dict().items())
    assert not torch.equal(saved["ema_state_dict"]["enc.0.weight"], saved["state_dict"]["enc.0.weight"])
    with pytest.raises(Exception, match="--ema"):
        train(TrainConfig(**{**config.__dict__, "ema": None, "resume": True, "max_steps": 4}))


def test_compile_trains_on_cpu(photo_dir, tmp_path):
    """torch.compile of model and loss (inductor on CPU): the same losses as eager, to float rounding.

    Kept small (16 px, pixel and TV terms only, so no VGG is built): compiling takes most of its time."""
    base = dict(model="sim0", images=str(photo_dir), size=(16, 16), width=0.0625, batch_size=2, max_steps=1, lr=1e-3,
                allow_random_vgg=True, vgg_width=0.0625, device="cpu", log_every=1, seed=1, loss_weights=(1, 6, 0, 0, 0.1))
    eager = train(TrainConfig(out=str(tmp_path / "e"), **base))
    compiled = train(TrainConfig(out=str(tmp_path / "c"), compile=True, **base))
    assert compiled.losses["total"] == pytest.approx(eager.losses["total"], rel=1e-4)
    a, b = compiled.model.state_dict(), eager.model.state_dict()
    moved = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    assert (moved > 1e-4).float().mean() < 0.01       # the same update (Adam's sign may flip where a gradient is ~0)
    assert set(compiled.model.state_dict()) == set(eager.model.state_dict())   # the bare model, no _orig_mod prefix


def test_no_tensor_is_built_from_python_numbers_inside_a_step(monkeypatch):
    """The ImageNet mean and std live on the device from the start: ``torch.tensor(..., device=...)`` inside a step
    is a blocking host-to-device copy on CUDA (two per step, four for Sim-K, before the fix)."""
    model = create_model("sim1", image_size=32, width=0.125)
    optimizer, fused = make_optimizer(model.parameters(), 1e-3, CPU)
    stepper = Stepper(model, model, InpaintingLoss(None), optimizer, fused, CPU)
    made = []
    real = torch.tensor
    monkeypatch.setattr(torch, "tensor", lambda *a, **kw: made.append(a) or real(*a, **kw))
    item = batch()
    item["aux"] = torch.randint(0, 256, (2, 1, 3, 32, 32), dtype=torch.uint8)
    image, _, _ = stepper.step(item)
    assert made == []
    from inpaint.training.batches import normalize_uint8
    assert torch.equal(image, normalize_uint8(item["image"]))   # the same values as building them each time


def test_norm_and_clip_without_the_torch_2_6_helpers(monkeypatch):
    """Older CUDA images (torch 2.1-2.5) lack get_total_norm / clip_grads_with_norm_: the fallbacks agree with them."""
    from inpaint.training.step import clip_with_norm_, total_norm

    grads = [torch.randn(3, 4), torch.randn(5)]
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    want = torch.nn.utils.get_total_norm(grads)
    monkeypatch.delattr(torch.nn.utils, "get_total_norm")
    monkeypatch.delattr(torch.nn.utils, "clip_grads_with_norm_")
    norm = total_norm(grads, foreach=False)
    assert torch.allclose(norm, want)
    for p, g in zip(params, grads):
        p.grad = g.clone()
    clip_with_norm_(params, 1.0, norm, foreach=False)
    assert torch.allclose(total_norm([p.grad for p in params], foreach=False), torch.tensor(1.0), atol=1e-4)
