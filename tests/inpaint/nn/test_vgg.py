"""VGG-16 layout, feature extraction and the weights loader (file, hub cache, download, errors)."""
from __future__ import annotations

import hashlib
import http.server
import threading
import warnings
from functools import partial

import pytest
import torch

from inpaint.nn.hub import hub_checkpoint_path, load_state_dict_file
from inpaint.nn.vgg import LAYER_NAMES, VGG16, VGG16_URL, VGG16Features, expected_shapes, imagenet_normalize, load_vgg16
from qdimd.errors import InputError

TINY = 1 / 16

# torchvision's vgg16 state-dict layout, produced by (torchvision 0.19):
#   m = torchvision.models.vgg16()
#   [(k, tuple(v.shape)) for k, v in m.state_dict().items()]
_CONVS = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256), (14, 256, 256),
          (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512)]
TORCHVISION_VGG16 = [
    item for i, o, c in _CONVS for item in ((f"features.{i}.weight", (o, c, 3, 3)), (f"features.{i}.bias", (o,)))
] + [
    ("classifier.0.weight", (4096, 25088)), ("classifier.0.bias", (4096,)),
    ("classifier.3.weight", (4096, 4096)), ("classifier.3.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)), ("classifier.6.bias", (1000,)),
]


def test_full_size_layout_matches_torchvision():
    assert list(expected_shapes(1.0).items()) == TORCHVISION_VGG16
    assert sum(torch.Size(s).numel() for _, s in TORCHVISION_VGG16) == 138_357_544  # torchvision's documented count


def test_layer_names():
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[28:] == ("conv5_3", "relu5_3", "pool5")
    assert len(LAYER_NAMES) == 31


@pytest.fixture()
def tiny_weights(tmp_path):
    model = VGG16(TINY)
    path = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), path)
    return model, path


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_explicit_path_loads_strict(tiny_weights):
    model, path = tiny_weights
    loaded = load_vgg16(path, width=TINY)
    assert _same(model, loaded)
    assert not loaded.training
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(model.eval()(x), loaded(x))


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "payload": partial(print, "hi")}, path)
    with pytest.raises(InputError, match="evil.pth"):
        load_state_dict_file(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_file_names_file(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(InputError, match="broken.pth"):
        load_vgg16(path, width=TINY)


def test_foreign_state_dict_names_expected_keys(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(InputError, match=r"resnet.pth.*features\.0\.weight.*classifier\.6\.bias"):
        load_vgg16(path, width=TINY)


def test_wrong_width_reports_shape(tiny_weights):
    _, path = tiny_weights
    with pytest.raises(InputError, match=r"features\.0\.weight has shape \(4, 3, 3, 3\), expected \(8, 3, 3, 3\)"):
        load_vgg16(path, width=2 * TINY)


def test_hub_cache_is_used(tiny_weights, tmp_path, monkeypatch):
    model, path = tiny_weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = hub_checkpoint_path(VGG16_URL)
    assert cached == tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    # An unreachable URL proves the cache is read before any download is tried.
    loaded = load_vgg16(width=TINY, url="http://127.0.0.1:9/vgg16-397923af.pth")
    assert _same(model, loaded)


def test_offline_error_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(InputError) as info:
        load_vgg16(width=TINY, url="http://127.0.0.1:9/vgg16-397923af.pth", progress=False)
    message = str(info.value)
    assert "--vgg-weights PATH" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth") in message


@pytest.fixture()
def http_dir(tmp_path):
    """A 127.0.0.1 HTTP server over ``tmp_path / "www"``; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_checks_hash_and_caches(tiny_weights, tmp_path, monkeypatch, http_dir):
    model, path = tiny_weights
    root, base = http_dir
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    name = f"vggtiny-{digest[:8]}.pth"
    (root / name).write_bytes(path.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    loaded = load_vgg16(width=TINY, url=f"{base}/{name}", progress=False)
    assert _same(model, loaded)
    assert (tmp_path / "torch" / "hub" / "checkpoints" / name).is_file()


def test_download_hash_mismatch_is_rejected(tiny_weights, tmp_path, monkeypatch, http_dir):
    _, path = tiny_weights
    root, base = http_dir
    (root / "vggtiny-00000000.pth").write_bytes(path.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(InputError, match="hash"):
        load_vgg16(width=TINY, url=f"{base}/vggtiny-00000000.pth", progress=False)
    assert not (tmp_path / "torch" / "hub" / "checkpoints" / "vggtiny-00000000.pth").exists()


def test_allow_random_warns_and_never_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.warns(UserWarning, match="randomly initialised"):
        model = load_vgg16(allow_random=True, width=TINY, url="http://127.0.0.1:9/x-00000000.pth")
    assert model.features[0].weight.abs().sum() > 0
    assert not (tmp_path / "torch").exists()


def test_features_frozen_eval_and_named(tiny_weights):
    model, _ = tiny_weights
    feats = VGG16Features(model, ("pool1", "pool2", "pool3", "conv5_3", "pool5"))
    feats.train()
    assert not feats.training
    assert not any(p.requires_grad for p in feats.parameters())
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    out = feats(imagenet_normalize(x))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "pool1": (2, 4, 32, 32), "pool2": (2, 8, 16, 16), "pool3": (2, 16, 8, 8), "conv5_3": (2, 32, 4, 4), "pool5": (2, 32, 2, 2),
    }
    assert (out["conv5_3"] < 0).any(), "conv5_3 is the pre-ReLU output (no in-place ReLU clobbered it)"
    with torch.no_grad():
        assert torch.equal(model.features[:5](imagenet_normalize(x)), out["pool1"])
    out["pool3"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    single = VGG16Features(model, "conv5_3")(imagenet_normalize(x))
    assert torch.allclose(single, out["conv5_3"])


def test_features_reject_unknown_layer(tiny_weights):
    with pytest.raises(ValueError, match="pool6"):
        VGG16Features(tiny_weights[0], ("pool6",))


def test_imagenet_normalize_constants():
    x = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(imagenet_normalize(x), torch.zeros(1, 3, 2, 2), atol=1e-7)


def test_no_warning_when_loading_file(tiny_weights):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_vgg16(tiny_weights[1], width=TINY)
