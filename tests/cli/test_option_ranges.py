"""Issue 18: every numeric option of every command has a checked range (finite floats, bounded counts)."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from qdimd_cli.inpaint_main import main as inpaint_main
from qdimd_cli.options import MAX_WORKERS, FiniteFloatRange
from qdimd_cli.qdimd_main import main as qdimd_main

LIBRARY_CHECKED = {
    # qdimd generate's mask parameters: MaskConfig checks them (finite, with bounds; qdimd.masks.params.check_config_bounds)
    ("generate", "strokes_mean"), ("generate", "strokes_std"), ("generate", "min_strokes"), ("generate", "width_min"),
    ("generate", "width_max"), ("generate", "reference_size"), ("generate", "upscale_min"), ("generate", "upscale_max"),
}


def commands():
    for group in (qdimd_main, inpaint_main):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            yield group, name, group.get_command(ctx, name)


@pytest.mark.parametrize("group, name, command", list(commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_numeric_option_has_a_checked_range(group, name, command):
    for param in command.params:
        types = param.type.types if isinstance(param.type, click.Tuple) else [param.type]
        for kind in types:
            if (name, param.name) in LIBRARY_CHECKED:
                continue
            assert kind not in (click.INT, click.FLOAT), f"{name} --{param.name}: plain {kind.name}, no range"
            if isinstance(kind, click.IntRange):
                assert kind.min is not None and kind.max is not None, f"{name} --{param.name}: open range"
            if isinstance(kind, click.FloatRange):
                assert isinstance(kind, FiniteFloatRange), f"{name} --{param.name}: NaN passes click.FloatRange"
                assert kind.min is not None, f"{name} --{param.name}: open range"


SEEDED = [
    (qdimd_main, ["generate", "--out", "o", "--n", "1"]),
    (qdimd_main, ["bucket", "--out", "o"]),
    (qdimd_main, ["preview", "-o", "p.png"]),
    (inpaint_main, ["fill", "a.png", "b.png", "-o", "c.png", "--method", "telea"]),
    (inpaint_main, ["eval", "--images", "i", "--masks", "m", "--method", "telea", "--out", "r"]),
    (inpaint_main, ["train", "--out", "r"]),
]


@pytest.mark.parametrize("group, args", SEEDED, ids=lambda v: v[0] if isinstance(v, list) else "")
@pytest.mark.parametrize("seed", [str(2**64), str(2**63), "-1"])
def test_seed_beyond_64_bits_is_a_usage_error(tmp_path, monkeypatch, group, args, seed):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(group, [*args, "--seed", seed])
    assert result.exit_code == 2 and "0<=x<=9223372036854775807" in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("group, args", [
    (qdimd_main, ["generate", "--out", "o", "--n", "1", "--workers", "10000"]),
    (qdimd_main, ["bucket", "--out", "o", "--workers", "10000"]),
    (inpaint_main, ["train", "--out", "r", "--workers", "10000"]),
    (inpaint_main, ["train", "--out", "r", "--batch-size", "1000000"]),
    (inpaint_main, ["eval", "--images", "i", "--masks", "m", "--method", "telea", "--out", "r", "--batch-size", "100000"]),
    (inpaint_main, ["index", "--images", ".", "--out", "db", "--batch-size", "100000"]),
    (inpaint_main, ["index", "--images", ".", "--out", "db", "--size", "100000"]),
    (inpaint_main, ["train", "--out", "r", "--loss-weights", "nan", "6", "0.05", "120", "0.1"]),
    (inpaint_main, ["train", "--out", "r", "--loss-weights", "1", "-6", "0.05", "120", "0.1"]),
    (inpaint_main, ["train", "--out", "r", "--lr", "nan"]),
    (inpaint_main, ["train", "--out", "r", "--ema", "nan"]),
    (inpaint_main, ["train", "--out", "r", "--clip-grad", "inf"]),
    (inpaint_main, ["query", ".", "x.png", "--dup-threshold", "nan"]),
    (qdimd_main, ["download", "--timeout", "nan"]),
], ids=lambda v: " ".join(v[:1] + v[-2:]) if isinstance(v, list) else "")
def test_out_of_range_values_are_usage_errors(tmp_path, monkeypatch, group, args):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(group, args)
    assert result.exit_code == 2 and "Invalid value for" in result.output, result.output
    assert "Traceback" not in result.output


def test_workers_cap_is_four_times_the_cores():
    import os

    assert MAX_WORKERS == 4 * (os.cpu_count() or 1)


@pytest.mark.parametrize("args, message", [
    (["preview", "--n", "4096", "--cell", "1024", "--size", "8192", "-o", "x.png"], "4,294,967,296 px"),
    (["generate", "--n", "1", "--out", "o", "--kind", "box[count=1..100000]"], "<= 100"),
])
def test_requests_too_big_to_hold_are_refused_before_work(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(qdimd_main, args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "o").exists()


def test_preview_shrinks_each_mask_to_its_cell(tmp_path):
    import numpy as np
    from PIL import Image

    from qdimd.files.preview import load_folder_masks

    for i in range(3):
        hole = np.zeros((512, 256), np.uint8)
        hole[: 100 * (i + 1)] = 255
        Image.fromarray(hole).save(tmp_path / f"{i}.png")
    holes, labels = load_folder_masks(tmp_path, 3, cell=32)
    assert [h.shape for h in holes] == [(32, 16)] * 3
    assert labels[0].endswith("19.5%")   # measured at full size, not on the shrunk mask
