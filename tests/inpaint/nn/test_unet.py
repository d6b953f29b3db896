"""The PConv and Sim-K UNets and the model registry."""
from __future__ import annotations

import pytest
import torch

from inpaint import PConvUNet, SimKUNet, create_model, list_models


def _inputs(size=64, b=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=gen)
    valid = torch.ones(b, 1, size, size)
    valid[:, :, 10:40, 20:50] = 0
    return x, valid, gen


def test_pconv256_parameter_count():
    model = create_model("pconv256")
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert abs(n - 25.8e6) < 0.05e6, n  # the paper's ~25.8 M (25,779,860)
    assert model.layer_size == 7 and create_model("pconv512").layer_size == 8


def test_pconv_shapes_gradients_no_nan(torch_device):
    model = PConvUNet(layer_size=5, width=0.125).to(torch_device)
    x, valid, _ = _inputs()
    out = model(x.to(torch_device), valid.to(torch_device))
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_pconv_hole_values_never_matter():
    model = PConvUNet(layer_size=5, width=0.125).eval()
    x, valid, gen = _inputs()
    x2 = torch.where(valid.bool(), x, torch.randn(x.shape, generator=gen) * 100)
    with torch.no_grad():
        assert torch.equal(model(x, valid), model(x2, valid))


def test_freeze_encoder_bn():
    model = PConvUNet(layer_size=4, width=0.125).freeze_encoder_bn()
    model.train()
    enc_bn = [m for m in model.enc_bn if isinstance(m, torch.nn.BatchNorm2d)]
    stats = [m.running_mean.clone() for m in enc_bn]
    x, valid, _ = _inputs(32)
    model(x, valid).mean().backward()
    assert all(not m.training for m in enc_bn)
    assert all(torch.equal(s, m.running_mean) for s, m in zip(stats, enc_bn))
    assert all(m.weight.grad is None for m in enc_bn)
    dec_bn = [m for m in model.dec_bn if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.training and m.weight.grad is not None for m in dec_bn)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_simk_channels_and_aux(k):
    model = SimKUNet(k, layer_size=5, width=0.125)
    assert model.enc[0].in_channels == 3 + 1 + 3 * k
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    x, valid, gen = _inputs()
    aux = torch.randn(2, k, 3, 64, 64, generator=gen) if k else None
    out = model(x, valid, aux)
    assert out.shape == x.shape
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    if k:
        with torch.no_grad():
            assert not torch.equal(model(x, valid, aux), model(x, valid, aux + 1))
        with pytest.raises(ValueError, match="auxiliary"):
            model(x, valid, None)


def test_simk_hole_values_never_matter():
    model = SimKUNet(1, layer_size=5, width=0.125)
    x, valid, gen = _inputs()
    aux = torch.randn(2, 3, 64, 64, generator=gen)
    x2 = torch.where(valid.bool(), x, torch.full_like(x, 7.0))
    with torch.no_grad():
        assert torch.equal(model(x, valid, aux), model(x2, valid, aux))


def test_registry():
    names = list_models()
    for name in ("pconv256", "pconv512", "sim0", "sim1", "sim2", "simk"):
        assert name in names
    assert create_model("simk", k=3, image_size=64, width=0.125).in_channels == 13
    assert create_model("sim2", image_size=64, width=0.125).k == 2
    with pytest.raises(ValueError, match="pconv256"):
        create_model("resnet50")
    with pytest.raises(ValueError, match="Bad arguments"):
        create_model("pconv256", depth=3)


def test_input_size_checked():
    model = PConvUNet(layer_size=5, width=0.125)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 40, 64), torch.ones(1, 1, 40, 64))


def test_decoder_channel_share_equals_per_channel_masks():
    """The decoder's mask shortcut gives exactly eq. (1) with the concatenated per-channel masks."""
    from inpaint.nn.pconv import partial_conv2d

    model = PConvUNet(layer_size=4, width=0.125).double().eval()
    x, valid, _ = _inputs(32)
    x, valid = x.double(), valid.double()
    with torch.no_grad():
        h, m = x, valid
        skips = [(h, m)]
        for conv, bn in zip(model.enc, model.enc_bn):
            h, m = conv(h, m)
            h = torch.relu(bn(h))
            skips.append((h, m))
        h, m = skips.pop()
        for i, (conv, bn) in enumerate(zip(model.dec, model.dec_bn)):
            sh, sm = skips.pop()
            h = torch.nn.functional.interpolate(h, scale_factor=2.0)
            m = torch.nn.functional.interpolate(m[:, :1], scale_factor=2.0)
            full = torch.cat([m.expand(-1, h.shape[1], -1, -1), sm[:, :1].expand(-1, sh.shape[1], -1, -1)], 1)
            h, m = partial_conv2d(torch.cat([h, sh], 1), full, conv.weight, conv.bias, 1, 1, 1, multi_channel=True)
            if i < len(model.dec) - 1:
                h = torch.nn.functional.leaky_relu(bn(h), 0.2)
        torch.testing.assert_close(model(x, valid), h, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("k", [0, 2])
def test_simk_keeps_channels_last_into_the_first_convolution(k):
    """Channels-last inputs (CUDA training) reach the first convolution channels-last: the input cat must not drop it."""
    model = SimKUNet(k, layer_size=5, width=0.125).to(memory_format=torch.channels_last)
    seen = []
    model.enc[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    cl = torch.channels_last
    image = torch.randn(2, 3, 32, 32).contiguous(memory_format=cl)
    valid = torch.ones(2, 1, 32, 32).contiguous(memory_format=cl)
    aux = (torch.randn(2, k, 3, 32, 32),) if k else ()
    out = model(image, valid, *aux)
    assert seen[0].is_contiguous(memory_format=cl) and seen[0].shape[1] == 4 + 3 * k
    assert out.is_contiguous(memory_format=cl)
