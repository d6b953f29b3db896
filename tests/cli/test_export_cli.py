"""``inpaint export`` through click: a TorchScript file that loads, clear errors."""
from __future__ import annotations

import torch
from click.testing import CliRunner

from qdimd_cli.inpaint_main import main
from inpaint.nn.models import create_model
from inpaint.checkpoint import checkpoint_payload, write_checkpoint


def test_export_torchscript(tmp_path):
    kwargs = {"image_size": 32, "width": 0.125}
    model = create_model("pconv", **kwargs).eval()
    write_checkpoint(tmp_path / "c.pt", checkpoint_payload(model, model_name="pconv", model_kwargs=kwargs, step=3, config={}))
    result = CliRunner().invoke(main, ["export", str(tmp_path / "c.pt"), "-o", str(tmp_path / "out" / "m.pt")])
    assert result.exit_code == 0, result.output
    assert "torchscript, model weights; checked against the checkpoint model: max |difference|" in result.output
    loaded = torch.jit.load(str(tmp_path / "out" / "m.pt"))
    assert loaded(torch.zeros(1, 3, 16, 48), torch.ones(1, 1, 16, 48)).shape == (1, 3, 16, 48)


def test_export_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "junk.pt"), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 1 and "not a PyTorch checkpoint" in result.output
    result = CliRunner().invoke(main, ["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 1 and "no such checkpoint" in result.output
    assert not (tmp_path / "m.pt").exists()
