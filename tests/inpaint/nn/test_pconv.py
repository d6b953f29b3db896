"""Partial convolution against a direct evaluation of eq. (1)-(2) of Liu et al. 2018."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inpaint import PartialConv2d, partial_conv2d
from inpaint.nn.pconv import _mask_stats


def reference(x, valid, weight, bias, stride, padding, dilation, multi_channel):
    """Eq. (1)-(2) window by window via unfold, with the paper's per-channel M."""
    b, c, h, w = x.shape
    co, _, kh, kw = weight.shape
    m = valid if multi_channel else valid.expand(-1, c, -1, -1)
    cols = F.unfold(x * m, (kh, kw), dilation, padding, stride)          # (B, C*kh*kw, L)
    mcols = F.unfold(m, (kh, kw), dilation, padding, stride)
    sum_m = mcols.sum(1, keepdim=True)                                    # (B, 1, L)
    sum_1 = c * kh * kw
    conv = weight.reshape(co, -1) @ cols                                  # (B, Co, L)
    bias = torch.zeros(co, dtype=x.dtype) if bias is None else bias
    y = torch.where(sum_m > 0, conv * sum_1 / sum_m.clamp_min(1e-12) + bias.view(1, -1, 1), torch.zeros_like(conv))
    hh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ww = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    return y.view(b, co, hh, ww), (sum_m > 0).to(x.dtype).view(b, 1, hh, ww)


def random_valid(gen, shape, hole_box=True):
    valid = (torch.rand(shape, generator=gen) > 0.4).double()
    if hole_box:  # a large hole: windows that are entirely hole
        valid[..., 2:12, 3:13] = 0
    return valid


@pytest.mark.parametrize("multi_channel", [False, True])
@pytest.mark.parametrize("kernel,stride,padding,dilation", [(3, 1, 1, 1), (7, 2, 3, 1), (5, 2, 2, 1), (3, 1, 0, 1), (3, 2, 2, 2), (4, 2, 1, 1)])
def test_matches_reference(multi_channel, kernel, stride, padding, dilation):
    gen = torch.Generator().manual_seed(kernel * 100 + stride * 10 + padding + multi_channel)
    c = 4
    x = torch.randn(2, c, 17, 16, generator=gen, dtype=torch.float64)
    valid = random_valid(gen, (2, c if multi_channel else 1, 17, 16))
    weight = torch.randn(5, c, kernel, kernel, generator=gen, dtype=torch.float64)
    bias = torch.randn(5, generator=gen, dtype=torch.float64)
    y, m = partial_conv2d(x, valid, weight, bias, stride, padding, dilation, multi_channel)
    y_ref, m_ref = reference(x, valid, weight, bias, stride, padding, dilation, multi_channel)
    assert (m_ref == 0).any(), "the test must include fully-hole windows"
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    assert torch.equal(m[:, :1], m_ref)
    assert m.shape[1] == (5 if multi_channel else 1)


def test_sum1_factor_kept_and_bias_not_rescaled():
    """One valid pixel in a 3x3 window: W^T(X*M) * 9/1 + b (naoto0804 would give x + b)."""
    x = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    x[0, 0, 1, 1] = 2.0
    valid = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    valid[0, 0, 1, 1] = 1
    weight = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    y, m = partial_conv2d(x, valid, weight, torch.tensor([0.5], dtype=torch.float64))
    assert y.item() == pytest.approx(2.0 * 9 + 0.5)
    assert m.item() == 1


def test_fully_hole_window_is_zero_including_bias():
    layer = PartialConv2d(3, 4, 3, padding=1).double()
    torch.nn.init.constant_(layer.bias, 5.0)
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    valid = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    valid[..., :5, :] = 0
    y, m = layer(x, valid)
    assert torch.all(y[..., :3, :] == 0) and torch.all(m[..., :3, :] == 0)
    assert torch.all(m[..., 4:, :] == 1)


def test_borders_count_as_holes():
    """All-valid input with padding: corner windows see 4 of 9 pixels, so ratio 9/4."""
    x = torch.ones(1, 1, 5, 5, dtype=torch.float64)
    valid = torch.ones(1, 1, 5, 5, dtype=torch.float64)
    y, _ = partial_conv2d(x, valid, torch.ones(1, 1, 3, 3, dtype=torch.float64), None, 1, 1)
    assert torch.allclose(y, torch.full_like(y, 9.0))  # every window rescaled to the full-window sum


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1)])
def test_all_valid_equals_conv2d_away_from_borders(stride, padding):
    gen = torch.Generator().manual_seed(3)
    layer = PartialConv2d(6, 8, 3, stride, padding)
    conv = torch.nn.Conv2d(6, 8, 3, stride, padding)
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(2, 6, 20, 20, generator=gen)
    y, m = layer(x, torch.ones(2, 1, 20, 20))
    ref = conv(x)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1)) if padding else (slice(None),) * 4
    torch.testing.assert_close(y[inner], ref[inner], rtol=1e-5, atol=1e-5)
    assert torch.all(m == 1)


@pytest.mark.parametrize("multi_channel", [False, True])
def test_gradcheck_float64(multi_channel):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 2, 7, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    valid = random_valid(gen, (1, 2 if multi_channel else 1, 7, 6), hole_box=False)
    weight = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    fn = lambda x, w, b: partial_conv2d(x, valid, w, b, 2, 1, 1, multi_channel)[0]  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, weight, bias))


def test_output_never_depends_on_hole_values():
    gen = torch.Generator().manual_seed(11)
    layer = PartialConv2d(3, 4, 5, 2, 2)
    x = torch.randn(2, 3, 16, 16, generator=gen)
    valid = random_valid(gen, (2, 1, 16, 16)).float()
    y1, _ = layer(x, valid)
    x2 = torch.where(valid.bool(), x, torch.randn(x.shape, generator=gen) * 1e3)
    y2, _ = layer(x2, valid)
    assert torch.equal(y1, y2)


def test_mask_statistics_float32_under_autocast():
    layer = PartialConv2d(3, 4, 3, padding=1)
    x = torch.randn(1, 3, 16, 16)
    valid = (torch.rand(1, 1, 16, 16) > 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ratio, updated = _mask_stats(valid.bfloat16(), layer.ones, 1, 1, 1, 9.0)
        y, m = layer(x, valid)
    assert ratio.dtype == torch.float32 and updated.dtype == torch.float32
    y_ref, m_ref = layer(x, valid)
    assert torch.isfinite(y).all()
    assert torch.equal(m.float(), m_ref)
    torch.testing.assert_close(y.float(), y_ref, rtol=0.05, atol=0.05)


def test_module_is_stateless_and_checks_shapes():
    layer = PartialConv2d(3, 4, 3, padding=1, multi_channel=True)
    assert set(layer.state_dict()) == {"weight", "bias"}
    x = torch.randn(1, 3, 8, 8)
    layer(x, torch.ones(1, 3, 8, 8))
    assert set(vars(layer)) == set(vars(PartialConv2d(3, 4, 3, padding=1, multi_channel=True)))
    with pytest.raises(ValueError, match="per-channel"):
        layer(x, torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="single-channel"):
        PartialConv2d(3, 4, 3)(x, torch.ones(1, 3, 8, 8))
