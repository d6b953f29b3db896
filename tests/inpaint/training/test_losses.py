"""The PConv loss terms (Liu et al. 2018, section 3.4)."""
from __future__ import annotations

import warnings

import pytest
import torch

from inpaint.training.losses import LossWeights, gram_matrix, hole_tv_loss, inpainting_loss
from inpaint.nn.vgg import VGG16Features, load_vgg16


@pytest.fixture(scope="module")
def features():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vgg = load_vgg16(allow_random=True, width=0.125)
    return VGG16Features(vgg, ("pool1", "pool2", "pool3"))


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(2, 3, 32, 32, generator=gen)
    valid = torch.ones(2, 1, 32, 32)
    valid[:, :, 8:16, 4:20] = 0
    return target, valid, gen


def test_perfect_output_costs_nothing(features):
    target, valid, _ = _batch()
    terms = inpainting_loss(target.clone(), target, valid, features)
    assert set(terms) == {"valid", "hole", "perceptual", "style", "tv", "total"}
    for k in ("valid", "hole", "perceptual", "style"):
        assert terms[k].item() == pytest.approx(0.0, abs=1e-6), k
    # tv of the ground truth inside the dilated hole is not zero, and it is the only term left
    assert terms["total"].item() == pytest.approx(0.1 * terms["tv"].item(), rel=1e-5)


def test_l1_terms_are_means_over_all_elements():
    target, valid, _ = _batch()
    output = target + (1 - valid) * 1.0 + valid * 0.5
    terms = inpainting_loss(output, target, valid, None)
    hole_fraction = (1 - valid).mean().item()
    assert terms["hole"].item() == pytest.approx(hole_fraction)
    assert terms["valid"].item() == pytest.approx(0.5 * (1 - hole_fraction))
    assert terms["perceptual"].item() == 0 and terms["style"].item() == 0


def test_total_is_weighted_sum(features):
    target, valid, gen = _batch(1)
    output = torch.randn(target.shape, generator=gen)
    for weights in (LossWeights(), LossWeights(valid=2.0, hole=1.0, perceptual=1.0, style=0.0, tv=3.0)):
        t = inpainting_loss(output, target, valid, features, weights)
        expect = sum(getattr(weights, k) * t[k] for k in ("valid", "hole", "perceptual", "style", "tv"))
        assert t["total"].item() == pytest.approx(expect.item(), rel=1e-6)
        assert t["perceptual"] > 0 and t["style"] > 0
    assert LossWeights() == LossWeights(1.0, 6.0, 0.05, 120.0, 0.1)


def test_gram_normalised_by_chw():
    f = torch.ones(2, 4, 3, 5)
    g = gram_matrix(f)
    assert g.shape == (2, 4, 4)
    assert torch.allclose(g, torch.full_like(g, 1 / 4))  # H*W / (C*H*W)
    assert gram_matrix(f.bfloat16()).dtype == torch.float32


def test_tv_only_inside_dilated_hole():
    comp = torch.zeros(1, 1, 8, 8)
    valid = torch.ones(1, 1, 8, 8)
    valid[..., 3, 3] = 0                       # dilated hole: rows/cols 2..4
    comp[..., 6:, :] = torch.rand(2, 8)        # noise far from the hole: ignored
    assert hole_tv_loss(comp, valid).item() == 0
    comp[..., 3, 3] = 1.0                      # a step at the hole: 4 neighbour pairs of difference 1
    assert hole_tv_loss(comp, valid).item() == pytest.approx(4 / 64)


def test_gradients_reach_output_not_vgg(features):
    target, valid, gen = _batch(2)
    output = torch.randn(target.shape, generator=gen, requires_grad=True)
    inpainting_loss(output, target, valid, features)["total"].backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in features.parameters())


def test_shape_errors():
    target, valid, _ = _batch()
    with pytest.raises(ValueError, match="Expected valid"):
        inpainting_loss(target, target, valid[:, :, :16], None)


def test_gram_and_loss_terms_float32_under_autocast(features):
    gen = torch.Generator().manual_seed(4)
    f = torch.randn(2, 16, 8, 8, generator=gen)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram_matrix(f)
    assert g.dtype == torch.float32
    torch.testing.assert_close(g, gram_matrix(f), rtol=1e-6, atol=1e-7)   # not bf16 (~3 significant digits)
    target, valid, gen = _batch(5)
    output = torch.randn(target.shape, generator=gen)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = inpainting_loss(output, target, valid, features)
    assert all(v.dtype == torch.float32 for v in terms.values())
