"""The FID Inception: pytorch-fid's layout (1008 classes, no auxiliary head, TensorFlow pooling), loading, features."""
from __future__ import annotations

import warnings
from urllib.error import URLError

import numpy as np
import pytest
import torch

from inpaint.nn.fid_inception import FID_WEIGHTS_URL, create_fid_inception, expected_shapes, fid_features, load_fid_inception
from inpaint.nn.inception import Inception3, expected_shapes as torchvision_shapes, init_random_
from qdimd.errors import InputError

TINY = 1 / 16


def test_layout_is_torchvision_inception_without_aux_head_and_1008_classes():
    fid, tv = expected_shapes(), torchvision_shapes()
    # pytorch-fid builds torchvision's Inception3(num_classes=1008, aux_logits=False) and swaps in blocks with
    # the same parameters, so its file holds torchvision's keys minus AuxLogits, with a 1008-way fc
    assert set(fid) == {k for k in tv if not k.startswith("AuxLogits.")}
    assert fid["fc.weight"] == (1008, 2048) and fid["fc.bias"] == (1008,)
    assert all(fid[k] == tv[k] for k in fid if not k.startswith("fc."))


def test_tf_pooling_changes_the_features_of_the_same_weights():
    x = torch.rand(2, 3, 96, 96)
    tf = init_random_(create_fid_inception(TINY), seed=0)
    plain = Inception3(num_classes=1008, transform_input=False, width=TINY, aux_logits=False)
    plain.load_state_dict(tf.state_dict())
    with torch.no_grad():
        a, b = tf.features(x), plain.eval().features(x)
    assert a.shape == b.shape == (2, tf.fc.in_features)
    assert (a - b).abs().max() > 0.1 * a.abs().max()  # random weights give tiny activations: compare relatively


def test_weights_file_loads_unchanged_and_gives_the_same_features(tmp_path):
    model = init_random_(create_fid_inception(TINY), seed=3)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}  # an old file
    torch.save(state, tmp_path / "pt_inception.pth")
    loaded = load_fid_inception(tmp_path / "pt_inception.pth", width=TINY)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 80, 3), dtype=np.uint8)
    ref = fid_features(model, images)
    assert np.allclose(fid_features(loaded, images, batch_size=2), ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())
    # pytorch-fid's conventions: x / 255 -> 299x299 bilinear -> 2x - 1 -> pool3
    x = torch.nn.functional.interpolate(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, size=(299, 299),
                                        mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert np.allclose(ref, model.features(2 * x - 1).numpy(), rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_wrong_file_and_offline_errors(tmp_path, monkeypatch):
    torch.save(Inception3(width=TINY).state_dict(), tmp_path / "torchvision.pth")  # the IS network, not FID's
    with pytest.raises(InputError, match="AuxLogits"):
        load_fid_inception(tmp_path / "torchvision.pth", width=TINY)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(URLError("offline")))
    with pytest.raises(InputError, match="--fid-weights") as info:
        load_fid_inception()
    assert str(tmp_path / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth") in str(info.value)
    assert FID_WEIGHTS_URL in str(info.value)


def test_random_weights_warn_and_repeat():
    with pytest.warns(UserWarning, match="FID Inception"):
        a = load_fid_inception(allow_random=True, width=TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = load_fid_inception(allow_random=True, width=TINY)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
