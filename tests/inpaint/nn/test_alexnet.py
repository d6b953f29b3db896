"""AlexNet with torchvision's layout (the LPIPS backbone) and its weights loading."""
from __future__ import annotations

from urllib.error import URLError

import pytest
import torch

from inpaint.nn.alexnet import ALEXNET_URL, AlexNet, AlexNetFeatures, expected_shapes, load_alexnet, random_alexnet
from qdimd.errors import InputError

# torchvision/models/alexnet.py: features = conv(11, s4) relu pool conv(5) relu pool conv relu conv relu conv relu pool,
# classifier = dropout linear relu dropout linear relu linear; 61,100,840 parameters (torchvision's docs)
TORCHVISION_KEYS = {
    "features.0.weight": (64, 3, 11, 11), "features.3.weight": (192, 64, 5, 5), "features.6.weight": (384, 192, 3, 3),
    "features.8.weight": (256, 384, 3, 3), "features.10.weight": (256, 256, 3, 3), "classifier.1.weight": (4096, 9216),
    "classifier.4.weight": (4096, 4096), "classifier.6.weight": (1000, 4096),
}


def test_layout_matches_torchvision():
    shapes = expected_shapes()
    assert len(shapes) == 16 and all(shapes[k] == v for k, v in TORCHVISION_KEYS.items())
    assert sum(p.numel() for p in AlexNet(device="meta").parameters()) == 61_100_840


def test_features_are_the_five_relus_and_logits_run():
    net = random_alexnet()
    x = torch.rand(2, 3, 64, 64)
    feats = AlexNetFeatures(net)(x)
    assert [f.shape[1] for f in feats] == [64, 192, 384, 256, 256] and all((f >= 0).all() for f in feats)
    assert net(torch.rand(1, 3, 224, 224)).shape == (1, 1000)


def test_file_loads_strictly_and_errors_name_the_file(tmp_path, monkeypatch):
    torch.save(random_alexnet(seed=4).state_dict(), tmp_path / "alexnet.pth")
    loaded = load_alexnet(tmp_path / "alexnet.pth")
    assert torch.equal(loaded.features[0].weight, random_alexnet(seed=4).features[0].weight)
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="bad.pth.*AlexNet"):
        load_alexnet(tmp_path / "bad.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(URLError("offline")))
    with pytest.raises(InputError, match="--alexnet-weights") as info:
        load_alexnet()
    assert "alexnet-owt-7be5be79.pth" in str(info.value) and ALEXNET_URL in str(info.value)
