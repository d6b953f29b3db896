"""Folder and output names that are not valid UTF-8 (issue 18, last pass): the commands that write those names into
UTF-8 files (eval's results.json, pairs' config.json) or hand them to torch (export) refuse them before any work,
naming the option; they used to score everything and then stop with a TypeError traceback, or skip every file of
the folder as if each name were bad."""
from __future__ import annotations

import os
import shutil
import sys

import pytest
from click.testing import CliRunner
from helpers import nvidia_style_folder

from cli.inpaint_main import main

pytestmark = pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses file names that are not UTF-8")
BAD = os.fsdecode(b"r\xff")


@pytest.fixture(scope="module")
def masks(tmp_path_factory):
    return nvidia_style_folder(tmp_path_factory.mktemp("masks"))


@pytest.mark.parametrize("where", ["--out", "--images", "--masks"])
@pytest.mark.parametrize("command", ["eval", "pairs"])
def test_eval_and_pairs_refuse_a_non_utf8_folder_name(photo_dir, masks, tmp_path, where, command):
    paths = {"--images": str(photo_dir), "--masks": str(masks), "--out": str(tmp_path / "out")}
    if where == "--out":
        paths["--out"] = str(tmp_path / BAD)
    else:
        paths[where] = str(tmp_path / BAD)
        shutil.copytree(photo_dir if where == "--images" else masks, paths[where])
    args = [command, *[a for k, v in paths.items() for a in (k, v)], "--size", "64", "--limit", "1"]
    args += ["--method", "identity", "--metric", "l1"] if command == "eval" else []
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert where in result.output and "not valid UTF-8" in result.output and "r\\xff" in result.output
    assert not (tmp_path / BAD).exists() or where != "--out"


def test_export_refuses_a_non_utf8_output_name(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path / "c.pt"), "-o", str(tmp_path / f"{BAD}.pt")])
    assert result.exit_code == 2, result.output
    assert "-o" in result.output and "not valid UTF-8" in result.output
