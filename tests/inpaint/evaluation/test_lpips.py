"""LPIPS v0.1: zero for identical images, the lpips package's numbers, and where the weights come from."""
from __future__ import annotations

import importlib.util
import sys
import types
import warnings
from urllib.error import URLError

import numpy as np
import pytest
import torch

import inpaint.evaluation.lpips as lp
from inpaint.nn.alexnet import random_alexnet
from inpaint.nn.vgg import VGG16
from qdimd.errors import InputError


def _images(seed: int, n: int = 3, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _random_lpips(net: str) -> lp.LPIPS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lp.load_lpips(net, allow_random=True)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_identical_images_score_zero_and_others_do_not(net, photo_dir):
    from inpaint.images import find_images, load_image

    model = _random_lpips(net)
    photos = np.stack([load_image(p, (64, 64)) for p in find_images(photo_dir)[:4]])
    assert np.array_equal(lp.lpips_scores(model, photos, photos, batch_size=3), np.zeros(4))
    other = lp.lpips_scores(model, photos, photos[::-1])
    assert (other > 0).all() and other[0] == pytest.approx(other[3])  # symmetric


def test_lpips_from_features_is_the_weighted_unit_normalised_distance():
    a, b = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    w = torch.rand(1, 3, 1, 1)
    na, nb = a / (a.norm(dim=1, keepdim=True) + 1e-10), b / (b.norm(dim=1, keepdim=True) + 1e-10)
    expected = ((na - nb) ** 2 * w).sum(dim=1).mean(dim=(1, 2))
    assert torch.allclose(lp.lpips_from_features([a], [b], [w]), expected)


@pytest.mark.skipif(importlib.util.find_spec("lpips") is None, reason="needs `pip install --no-deps lpips`")
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_equals_the_lpips_package_on_the_same_backbone(net, monkeypatch):
    """The lpips package itself (its torchvision import served our networks) with its shipped v0.1 linear layers."""
    alex, vgg = random_alexnet(seed=1), VGG16(generator=torch.Generator().manual_seed(1)).eval()
    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(alexnet=lambda **kw: alex, vgg16=lambda **kw: vgg, squeezenet1_1=None)
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", tv.models)
    for name in [m for m in sys.modules if m == "lpips" or m.startswith("lpips.")]:
        monkeypatch.delitem(sys.modules, name)
    import lpips

    reference = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    a, b = _images(0), _images(1)
    with torch.no_grad():
        expected = reference(*(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255 for x in (a, b)),
                             normalize=True).flatten().numpy()
    backbone = lp.AlexNetFeatures(alex) if net == "alex" else lp._VGGTaps(lp.VGG16Features(vgg, lp.VGG_LAYERS))
    ours = lp.LPIPS(backbone, lp.CHANNELS[net])
    with torch.no_grad():
        for p, w in zip(ours.lins, lp.load_linear_weights(net)):  # found in the installed package
            p.copy_(w)
    assert np.allclose(lp.lpips_scores(ours, a, b), expected, rtol=1e-5, atol=1e-7)


def test_linear_weights_from_a_file_and_wrong_files(tmp_path):
    state = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(lp.CHANNELS["alex"])}
    torch.save(state, tmp_path / "alex.pth")
    torch.save(random_alexnet().state_dict(), tmp_path / "alexnet.pth")
    model = lp.load_lpips("alex", weights=tmp_path / "alex.pth", backbone_weights=tmp_path / "alexnet.pth")
    assert all(torch.equal(p, state[f"lin{k}.model.1.weight"]) for k, p in enumerate(model.lins))
    with pytest.raises(InputError, match="alex.pth: v0.1 vgg linear-layer tensor lin1.model.1.weight has shape"):
        lp.load_linear_weights("vgg", tmp_path / "alex.pth")
    with pytest.raises(ValueError, match="alex, vgg"):
        lp.load_lpips("squeeze")


def test_offline_without_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(lp, "package_linear_file", lambda net: None)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(URLError("offline")))
    with pytest.raises(InputError, match="--lpips-weights") as info:
        lp.load_linear_weights("alex")
    assert str(tmp_path / "checkpoints" / "lpips_v0.1_alex-df73285e.pth") in str(info.value)
    (tmp_path / "checkpoints").mkdir()  # the hub cache is used when the file is there
    state = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(lp.CHANNELS["vgg"])}
    torch.save(state, tmp_path / "checkpoints" / "lpips_v0.1_vgg-a78928a0.pth")
    assert torch.equal(lp.load_linear_weights("vgg")[4], state["lin4.model.1.weight"])
    with pytest.raises(InputError, match="--alexnet-weights"):
        lp.load_lpips("alex", weights=tmp_path / "checkpoints" / "lpips_v0.1_vgg-a78928a0.pth")


def test_random_weights_warn():
    with pytest.warns(UserWarning, match="random LPIPS alex"):
        lp.load_lpips("alex", allow_random=True)
