"""``--method NAME=py:MODULE:FUNCTION`` and ``inpaint.methods`` entry points: scored like built-ins, failures named."""
from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import nvidia_style_folder

from cli.inpaint_main import main

PLUGIN = '''
import numpy as np
from inpaint.evaluation.methods import fill_identity

CALLS = []


def mean_fill(image, hole):
    CALLS.append(image.shape)
    return fill_identity(image, hole)


def batched_fill(images, holes):
    CALLS.append(images.shape)
    return np.stack([fill_identity(i, h) for i, h in zip(images, holes)])


batched_fill.batched = True


def raises(image, hole):
    raise RuntimeError("CUDA out of memory")


def wrong_shape(image, hole):
    return image[:-1]


def wrong_dtype(image, hole):
    return image.astype(np.float32) / 255


def not_an_array(image, hole):
    return image.tolist()


NOT_CALLABLE = 3
'''


@pytest.fixture(scope="module")
def masks(tmp_path_factory) -> Path:
    return nvidia_style_folder(tmp_path_factory.mktemp("masks"), per_group=1)


@pytest.fixture()
def plugin(tmp_path, monkeypatch) -> str:
    """A module ``i20plug_<n>`` on sys.path (a fresh name per test: no stale import)."""
    name = f"i20plug_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return name


def run_eval(photo_dir, masks, out, *methods, extra=()):
    args = ["eval", "--images", str(photo_dir), "--masks", str(masks), "--size", "64", "--out", str(out),
            "--metric", "l1", "--metric", "ssim", "--device", "cpu", *extra]
    for m in methods:
        args += ["--method", m]
    return CliRunner().invoke(main, args)


def scores(out: Path) -> dict[str, list[tuple]]:
    by: dict[str, list[tuple]] = {}
    with open(out / "per_image.csv", newline="") as f:
        for r in csv.DictReader(f):
            by.setdefault(r["method"], []).append((r["bucket"], r["group"], r["index"], r["l1"], r["ssim"]))
    return by


def test_a_plugin_scores_exactly_like_the_builtin_it_wraps(plugin, photo_dir, masks, tmp_path):
    import importlib

    out = tmp_path / "r"
    result = run_eval(photo_dir, masks, out, "identity", f"mine=py:{plugin}:mean_fill", f"batch=py:{plugin}:batched_fill",
                      extra=["--batch-size", "4"])
    assert result.exit_code == 0, result.output
    by = scores(out)
    assert len(by["mine"]) == 12 and by["mine"] == by["identity"] == by["batch"]
    calls = importlib.import_module(plugin).CALLS
    assert (64, 64, 3) in calls and (4, 64, 64, 3) in calls  # per pair, and batched 4 at a time


@pytest.mark.parametrize("function, words", [
    ("raises", "method bad failed on pair 1N_00000_"),
    ("wrong_shape", "expected (64, 64, 3) uint8 RGB, got (63, 64, 3) uint8"),
    ("wrong_dtype", "got (64, 64, 3) float32"),
    ("not_an_array", "got list"),
    ("absent", "has no function 'absent'"),
    ("NOT_CALLABLE", "is not callable (got int), expected a function"),
])
def test_a_failing_plugin_is_named_without_traceback_and_keeps_other_scores(plugin, photo_dir, masks, tmp_path,
                                                                            function, words):
    out = tmp_path / "r"
    assert run_eval(photo_dir, masks, out, "telea", extra=["--batch-size", "4"]).exit_code == 0
    before = scores(out)
    result = run_eval(photo_dir, masks, tmp_path / "r2", "telea", f"bad=py:{plugin}:{function}", extra=["--batch-size", "4"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "method bad" in result.output and words in result.output, result.output
    if function == "raises":
        assert "CUDA out of memory" in result.output and f"{plugin}.py" in result.output  # where it raised
    assert scores(out) == before


def test_a_missing_module_is_named(photo_dir, masks, tmp_path):
    result = run_eval(photo_dir, masks, tmp_path / "r", "m=py:no_such_module_i20:fill")
    assert result.exit_code == 1 and "cannot import module 'no_such_module_i20'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r" / "per_image.csv").exists()


def test_a_malformed_py_spec_is_refused(photo_dir, masks, tmp_path):
    result = run_eval(photo_dir, masks, tmp_path / "r", "py:just_a_module")
    assert result.exit_code == 1 and "py:MODULE:FUNCTION" in result.output


def test_an_entry_point_method_is_usable_by_name(plugin, photo_dir, masks, tmp_path, monkeypatch):
    """A distribution that registers ``i20fill`` under ``inpaint.methods``, found by importlib.metadata."""
    site = tmp_path / "eps"
    info = site / "i20_fill_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: i20-fill-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [inpaint.methods]
        i20fill = {plugin}:mean_fill
        i20broken = {plugin}:absent
        """))
    monkeypatch.syspath_prepend(str(site))
    out = tmp_path / "r"
    result = run_eval(photo_dir, masks, out, "identity", "i20fill")
    assert result.exit_code == 0, result.output
    assert scores(out)["i20fill"] == scores(out)["identity"]
    result = run_eval(photo_dir, masks, tmp_path / "r2", "i20broken")
    assert result.exit_code == 1 and "method i20broken" in result.output and "Traceback" not in result.output
    result = run_eval(photo_dir, masks, tmp_path / "r3", "i20nothing")
    assert result.exit_code == 1 and "i20fill" in result.output  # the choices list the installed entry points
