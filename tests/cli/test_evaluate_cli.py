"""``inpaint eval`` through click's CliRunner: ``--device`` resolution (issue 10, fault 3)."""
from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner
from helpers import nvidia_style_folder

from inpaint.nn.models import create_model
from inpaint.checkpoint import save_checkpoint
from qdimd_cli.inpaint_main import main


@pytest.fixture(scope="module")
def pconv_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "pconv.pt"
    kwargs = {"image_size": 64, "width": 0.125}
    save_checkpoint(path, create_model("pconv", **kwargs), model_name="pconv", model_kwargs=kwargs, step=0, config={})
    return path


@pytest.mark.parametrize("device", [None, "auto"])  # auto is the default, as for train and fill
def test_eval_with_device_auto_runs_a_checkpoint_end_to_end(photo_dir, pconv_checkpoint, tmp_path, device):
    masks = nvidia_style_folder(tmp_path / "masks")
    out = tmp_path / "report"
    args = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--method", f"pconv:{pconv_checkpoint}",
            "--out", str(out), "--size", "128", "--limit", "1", "--no-iscore"]
    result = CliRunner().invoke(main, args + ([] if device is None else ["--device", device]))
    assert result.exit_code == 0, result.output
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {"pconv:pconv"} and {r["bucket"] for r in rows} >= {"1", "6"}
    assert all(0 < float(r["l1"]) < 100 and float(r["psnr"]) > 0 for r in rows)  # L1 in percent


def test_an_unavailable_device_is_a_usage_error(photo_dir, pconv_checkpoint, tmp_path):
    args = ["eval", "--images", str(photo_dir), "--masks", str(tmp_path), "--method", f"pconv:{pconv_checkpoint}",
            "--out", str(tmp_path / "r"), "--device", "gpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "Invalid value for '--device'" in result.output and "Traceback" not in result.output


def test_eval_simk_refuses_weights_other_than_the_databases(photo_dir, tmp_path):
    """Issue 10, fault 2: ``simk:`` loads the database's recorded VGG-16 file and refuses other weights."""
    import torch

    from inpaint.images import find_images
    from inpaint.nn.vgg import VGG16, load_vgg16
    from inpaint.retrieval.database import build_database

    weights, other = tmp_path / "vgg.pth", tmp_path / "other.pth"
    for path, seed in ((weights, 1), (other, 2)):
        torch.save(VGG16(1 / 16, generator=torch.Generator().manual_seed(seed)).state_dict(), path)
    build_database(find_images(photo_dir)[:6], tmp_path / "db", vgg=load_vgg16(weights, width=1 / 16),
                   vgg_source=str(weights))
    kwargs = {"image_size": 64, "width": 1 / 16}
    save_checkpoint(tmp_path / "sim1.pt", create_model("sim1", **kwargs), model_name="sim1", model_kwargs=kwargs,
                    step=0, config={})
    args = ["eval", "--images", str(photo_dir), "--masks", str(nvidia_style_folder(tmp_path / "masks")),
            "--method", f"simk:{tmp_path / 'sim1.pt'}:{tmp_path / 'db'}", "--out", str(tmp_path / "r"),
            "--size", "128", "--limit", "1", "--no-iscore", "--vgg-weights", str(other)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "SHA-256" in result.output and str(weights) in result.output


def test_resume_after_the_checkpoint_changed_is_refused(photo_dir, pconv_checkpoint, tmp_path):
    """Evaluating the checkpoint of a run that goes on training: after Ctrl-C, `inpaint train --resume` replaces it;
    resuming the eval would mix scores of two models in one table, so it is refused (was silently resumed)."""
    import os
    import shutil

    masks = nvidia_style_folder(tmp_path / "masks")
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.parent.mkdir()
    shutil.copy(pconv_checkpoint, ckpt)
    args = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--method", f"pconv:{ckpt}", "--method", "telea",
            "--out", str(tmp_path / "r"), "--size", "64", "--limit", "1", "--metric", "l1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    before = (tmp_path / "r" / "per_image.csv").read_bytes()
    stat = os.stat(ckpt)
    os.utime(ckpt, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a newer checkpoint written over it
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "method pconv:checkpoint" in result.output and "checkpoint.pt changed" in result.output
    assert (tmp_path / "r" / "per_image.csv").read_bytes() == before
    os.utime(ckpt, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert CliRunner().invoke(main, args).exit_code == 0  # the same file again: resumed


@pytest.mark.parametrize("linked", ["worst_parts", "grid_parts"])
def test_linked_worst_parts_folder_is_never_written_through(photo_dir, tmp_path, linked):
    """A report folder whose `worst_parts/` (or `grid_parts/`) is a link to another folder (a failed run's stub,
    rerun with the fixing flag): the worst-image tiles were written through it (grid_parts: the stub's clean-up
    stopped on rmtree's 'Cannot call rmtree on a symbolic link', naming nothing); refused now, naming it, the
    other folder untouched."""
    masks = nvidia_style_folder(tmp_path / "masks")
    out, outside = tmp_path / "r", tmp_path / "outside"
    outside.mkdir()
    args = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--method", "telea", "--out", str(out),
            "--size", "64", "--limit", "1", "--no-iscore"]
    stub = CliRunner().invoke(main, [*args, "--metric", "lpips", "--lpips-weights", str(tmp_path / "missing.pth")])
    assert stub.exit_code != 0 and (out / "run.json").is_file(), stub.output
    if (out / linked).exists():
        (out / linked).rmdir()
    (out / linked).symlink_to(outside)
    result = CliRunner().invoke(main, [*args, "--metric", "l1"])
    assert result.exit_code == 1, result.output
    assert linked in result.output and "link" in result.output
    assert list(outside.iterdir()) == []
