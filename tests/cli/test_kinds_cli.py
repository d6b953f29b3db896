"""--kind through qdimd generate / preview / bucket: the masks of qdimd.kinds, recorded and replayable."""
from __future__ import annotations

import csv
import json

import numpy as np
import orjson
import pytest
from click.testing import CliRunner
from PIL import Image

from cli.qdimd_main import main
from qdimd.kinds import KindGenerator, KindParams, render_kind_params
from qdimd.masks.params import MaskConfig


def _invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_preview_kind(tmp_path):
    out = tmp_path / "sheet.png"
    result = _invoke("preview", "--kind", "lama-thick:1,mat:1", "--n", "6", "--size", "64", "-o", out)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size[0] > 0
    bad = _invoke("preview", "--kind", "lama-wide", "--n", "2", "-o", out)
    assert bad.exit_code == 2 and "Expected a mask kind" in bad.output
    both = _invoke("preview", str(tmp_path), "--kind", "box", "-o", out)
    assert both.exit_code == 2 and "without SOURCE" in both.output
