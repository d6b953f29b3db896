"""Inception-v3 layout (torchvision's), weights loading, and the Inception score."""
from __future__ import annotations

import math
import warnings
from urllib.error import URLError

import numpy as np
import pytest
import torch

from inpaint.nn.inception import (
    INCEPTION_URL, IMAGENET_MEAN, IMAGENET_STD, Inception3, expected_shapes, inception_probs, inception_score,
    load_inception,
)
from qdimd.errors import InputError

TINY = 1 / 16

# Representative keys of torchvision's inception_v3(aux_logits=True) state dict, read off
# torchvision/models/inception.py (Inception3.__init__ and the Inception{A..E,Aux} blocks):
#   BasicConv2d = conv (bias=False) + bn; 5 stem convs, InceptionA 7 x 3, InceptionB 4,
#   InceptionC 10 x 4, InceptionD 6, InceptionE 9 x 2, InceptionAux 2 -> 96 BasicConv2d,
#   6 tensors each (conv.weight, bn.weight/bias/running_mean/running_var/num_batches_tracked),
#   plus fc and AuxLogits.fc weight and bias: 96 * 6 + 4 = 580 keys.
TORCHVISION_KEYS = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch1x1.conv.weight": (64, 288, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "AuxLogits.conv0.conv.weight": (128, 768, 1, 1),
    "AuxLogits.conv1.conv.weight": (768, 128, 5, 5),
    "AuxLogits.fc.weight": (1000, 768),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7b.branch1x1.conv.weight": (320, 1280, 1, 1),
    "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
    "Mixed_7c.branch3x3dbl_3b.bn.running_var": (384,),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1000, 2048),
    "fc.bias": (1000,),
}


def test_layout_matches_torchvision():
    shapes = expected_shapes(1.0)
    assert len(shapes) == 580
    for key, shape in TORCHVISION_KEYS.items():
        assert shapes[key] == shape, key
    assert list(shapes)[:2] == ["Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.weight"]
    assert list(shapes)[-2:] == ["fc.weight", "fc.bias"]
    learnable = [k for k in shapes if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    # torchvision's documented Inception_V3_Weights.IMAGENET1K_V1 meta["num_params"]:
    assert sum(math.prod(shapes[k]) for k in learnable) == 27_161_264


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    model = Inception3(width=TINY)
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}  # old-style file
    path = tmp_path_factory.mktemp("inc") / "tiny_inception.pth"
    torch.save(state, path)
    return model.eval(), path


def test_explicit_weights_load_strict(tiny_weights):
    model, path = tiny_weights
    loaded = load_inception(path, width=TINY)
    assert not loaded.training and loaded.transform_input
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x))


def test_foreign_file_is_rejected(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(InputError, match="vgg.pth.*Inception-v3"):
        load_inception(path, width=TINY)
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="vgg.pth"):
        load_inception(path)


def test_offline_error_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(InputError, match="--inception-weights") as info:
        load_inception()
    assert "inception_v3_google-0cc3c7bd.pth" in str(info.value) and INCEPTION_URL.endswith("0cc3c7bd.pth")


def test_hub_cache_is_used(tiny_weights, tmp_path, monkeypatch):
    _, path = tiny_weights
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "inception_v3_google-0cc3c7bd.pth").write_bytes(path.read_bytes())
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert isinstance(load_inception(width=TINY), Inception3)


def test_random_weights_warn_and_repeat():
    with pytest.warns(UserWarning, match="randomly initialised Inception"):
        model = load_inception(allow_random=True, width=TINY)
    assert not model.training
    with pytest.warns(UserWarning):
        again = load_inception(allow_random=True, width=TINY)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_transform_input_as_torchvision():
    """ImageNet-normalised input with transform_input equals [-1, 1]-scaled input without it."""
    model = Inception3(width=TINY, transform_input=False).eval()
    x01 = torch.rand(1, 3, 80, 80)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        plain = model((x01 - 0.5) / 0.5)
        model.transform_input = True
        assert torch.allclose(model((x01 - mean) / std), plain, atol=1e-5)


def test_probs_of_images(photo_dir):
    from PIL import Image

    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(photo_dir.iterdir())[:3]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_inception(allow_random=True, width=TINY)
    probs = inception_probs(model, images, batch_size=2)
    assert probs.shape == (3, 1000)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(inception_probs(model, images[1:2]), probs[1:2], atol=1e-6)
    with pytest.raises(ValueError, match="Expected"):
        inception_probs(model, images.astype(np.float32))


def test_score_of_identical_one_hot_is_one():
    probs = np.zeros((20, 1000))
    probs[:, 7] = 1.0
    assert inception_score(probs, splits=4) == pytest.approx((1.0, 0.0))


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_score_of_uniform_distinct_one_hot_is_n(n):
    """KL(e_i || uniform over n) = log n for every image, so IS = n."""
    probs = np.eye(1000)[:n]
    assert inception_score(probs, splits=1) == pytest.approx((float(n), 0.0))


def test_score_splits():
    probs = np.eye(1000)[np.arange(12) % 3]  # 12 images cycling over 3 classes
    mean, std = inception_score(probs, splits=4)  # each part of 3 holds the 3 classes
    assert (mean, std) == pytest.approx((3.0, 0.0))
    assert inception_score(np.eye(1000)[:2], splits=10) == pytest.approx((1.0, 0.0))  # 2 splits of 1 image
    parts = [[0, 1], [2, 2]]  # IS 2 and 1 -> mean 1.5, std 0.5
    assert inception_score(np.eye(1000)[sum(parts, [])], splits=2) == pytest.approx((1.5, 0.5))
    with pytest.raises(ValueError, match="Expected"):
        inception_score(np.zeros((0, 10)))
