"""TorchScript and ONNX export of trained checkpoints: other sizes, EMA weights, Sim-K, input checks."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from qdimd.errors import InputError
from inpaint.export import example_inputs, export_checkpoint, load_exported, read_metadata
from inpaint.nn.models import create_model
from inpaint.checkpoint import checkpoint_payload, write_checkpoint

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript"))
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None


def _trained(name: str, seed: int, **kwargs) -> torch.nn.Module:
    """A small model with non-trivial weights and BatchNorm statistics (a few train-mode passes)."""
    torch.manual_seed(seed)
    model = create_model(name, **kwargs)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        model.train()
        for i in range(3):
            model(*example_inputs(model, 2, 32, 32, seed=10 + i))
    return model.eval()


def _checkpoint(tmp_path, name="pconv", ema=None, **kwargs):
    kwargs = kwargs or {"image_size": 32, "width": 0.125}
    model = _trained(name, 0, **kwargs)
    payload = checkpoint_payload(model, model_name=name, model_kwargs=kwargs, step=7, config={}, ema=ema)
    path = tmp_path / "checkpoint.pt"
    write_checkpoint(path, payload)
    return path, model


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 48, 96), (2, 128, 64)])
def test_torchscript_matches_checkpoint_on_other_sizes(tmp_path, shape):
    path, model = _checkpoint(tmp_path)
    result = export_checkpoint(path, tmp_path / "m.pt")
    assert result.weights == "model" and result.max_abs_diff < 1e-4
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    inputs = example_inputs(model, *shape, seed=5)
    with torch.no_grad():
        want = model(*inputs)
        got = loaded(*inputs)
    assert got.shape == want.shape == (shape[0], 3, shape[1], shape[2])
    assert (got - want).abs().max() < 1e-4
    assert want.abs().max() > 0.1   # a real output, not zeros
    meta = read_metadata(tmp_path / "m.pt")
    assert meta["model"] == "pconv" and meta["multiple"] == 16 and meta["step"] == 7 and meta["weights"] == "model"


def test_torchscript_rejects_bad_shapes(tmp_path):
    path, _ = _checkpoint(tmp_path)
    export_checkpoint(path, tmp_path / "m.pt")
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    with pytest.raises(Exception, match="multiples of 16"):
        loaded(torch.zeros(1, 3, 40, 32), torch.ones(1, 1, 40, 32))
    with pytest.raises(Exception, match="valid of shape"):
        loaded(torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32))


def test_ema_weights_exported_by_default(tmp_path):
    ema = _trained("pconv", 1, image_size=32, width=0.125)
    path, model = _checkpoint(tmp_path, ema=ema)
    inputs = example_inputs(model, 2, 32, 48, seed=3)
    assert export_checkpoint(path, tmp_path / "ema.pt").weights == "ema"
    assert export_checkpoint(path, tmp_path / "raw.pt", weights="model").weights == "model"
    with torch.no_grad():
        assert (torch.jit.load(str(tmp_path / "ema.pt"))(*inputs) - ema(*inputs)).abs().max() < 1e-4
        assert (torch.jit.load(str(tmp_path / "raw.pt"))(*inputs) - model(*inputs)).abs().max() < 1e-4
        assert (ema(*inputs) - model(*inputs)).abs().max() > 1e-2   # the two really differ


def test_ema_requested_without_ema_weights(tmp_path):
    path, _ = _checkpoint(tmp_path)
    with pytest.raises(InputError, match="no EMA weights"):
        export_checkpoint(path, tmp_path / "m.pt", weights="ema")
    with pytest.raises(ValueError, match="Expected format"):
        export_checkpoint(path, tmp_path / "m.pt", format="tflite")


def test_simk_with_auxiliary_images(tmp_path):
    path, model = _checkpoint(tmp_path, "sim1", image_size=32, width=0.125)
    export_checkpoint(path, tmp_path / "s.pt")
    loaded = torch.jit.load(str(tmp_path / "s.pt"))
    image, valid, aux = example_inputs(model, 2, 64, 32, seed=4)
    with torch.no_grad():
        want = model(image, valid, aux)
        assert (loaded(image, valid, aux) - want).abs().max() < 1e-4
        assert (loaded(image, valid, aux.view(2, 1, 3, 64, 32)) - want).abs().max() < 1e-4
    with pytest.raises(Exception, match="auxiliary images"):
        loaded(image, valid)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ONNX, reason="needs onnx and onnxscript (the export extra)")
def test_onnx_matches_checkpoint_on_other_sizes(tmp_path):
    path, model = _checkpoint(tmp_path)
    result = export_checkpoint(path, tmp_path / "m.onnx", "onnx")
    import onnx

    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert any(p.key == "inpaint" for p in proto.metadata_props)
    if not HAS_ORT:
        assert result.max_abs_diff is None
        return
    assert result.max_abs_diff < 1e-4
    run = load_exported(tmp_path / "m.onnx")
    inputs = example_inputs(model, 3, 80, 48, seed=9)
    with torch.no_grad():
        assert (run(*inputs) - model(*inputs)).abs().max() < 1e-4
