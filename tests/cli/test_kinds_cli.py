"""--kind through qdimd generate / preview / bucket: the masks of qdimd.kinds, recorded and replayable."""
from __future__ import annotations

import csv
import json

import numpy as np
import orjson
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


def test_bucket_kind_writes_replayable_cells(tmp_path):
    out = tmp_path / "split"
    result = _invoke("bucket", "--kind", "lama-medium:1,box[size=0.1..0.9]:1", "--out", out, "--size", "64",
                     "--per-group", "2", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "draws per mask" in result.output and "masks/s overall" in result.output
    assert json.loads((out / "config.json").read_text())["kind"] == "lama-medium:1,box[size=0.1..0.9]:1"
    rows = list(csv.DictReader(open(out / "manifest.csv", newline="")))
    assert len(rows) == 24
    for row in rows[::5]:
        record = KindParams.from_dict(orjson.loads(row["params"]))
        hole = np.asarray(Image.open(out / row["file"])) > 127
        assert record.kind in ("lama-medium", "box") and np.array_equal(render_kind_params(record, 64, 64), hole)
    mode2 = _invoke("bucket", "--kind", "mat", "--from", out, "--out", tmp_path / "sorted")
    assert mode2.exit_code == 2 and "mode 1 only" in mode2.output


def test_generate_kind_mixture_is_recorded_replayable_and_worker_independent(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    kind = "lama-thick:0.5,qdimd:0.5"
    for folder, workers in ((one, 1), (two, 2)):
        result = _invoke("generate", "--kind", kind, "--n", 12, "--size", 48, "--out", folder, "--workers", workers)
        assert result.exit_code == 0, result.output
    assert json.loads((one / "config.json").read_text())["kind"] == kind
    rows = list(csv.DictReader(open(one / "manifest.csv", newline="")))
    config = MaskConfig(size=(48, 48))
    gen = KindGenerator(kind, config, seed=0)
    assert {orjson.loads(r["params"])["kind"] for r in rows} == {"lama-thick", "qdimd"}
    for row in rows:
        hole = np.asarray(Image.open(one / row["file"])) > 127
        assert np.array_equal(hole, np.asarray(Image.open(two / row["file"])) > 127)
        record = KindParams.from_dict(orjson.loads(row["params"]))
        assert np.array_equal(hole, gen.generate(record.index))
        if record.kind != "qdimd":
            assert np.array_equal(hole, render_kind_params(record, 48, 48))
    plain = _invoke("generate", "--kind", "qdimd", "--n", 2, "--size", 48, "--out", tmp_path / "plain")
    assert plain.exit_code == 0 and "kind" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    bad = _invoke("generate", "--kind", "mat[hole_range=0.9..0.1]", "--n", 2, "--out", tmp_path / "bad")
    assert bad.exit_code == 2 and "hole_range" in bad.output


def test_inpaint_eval_on_a_split_of_another_kind(tmp_path, photo_dir):
    from qdimd_cli.inpaint_main import main as inpaint_main

    split = tmp_path / "split"
    assert _invoke("bucket", "--kind", "box[size=0.05..0.8]", "--out", split, "--size", 64, "--per-group", 1,
                   "--workers", 1).exit_code == 0
    result = CliRunner().invoke(inpaint_main, ["eval", "--images", str(photo_dir), "--masks", str(split), "--method",
                                               "identity", "--out", str(tmp_path / "report"), "--limit", "1",
                                               "--no-iscore", "--size", "64"])
    assert result.exit_code == 0, result.output
    assert "12 image/mask pairs" in result.output and (tmp_path / "report" / "report.md").is_file()
