"""Tests for qdimd.sets.stats: the bucket x group table, manifests with and without bucket columns, the histogram."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image

from qdimd.errors import InputError, ProblemLog
from qdimd.sets.stats import MaskStats, format_table, load_mask_stats, render_histogram, save_png, summarize


def test_summarize_counts_shares_and_ratios():
    ratios = [0.05, 0.07, 0.15, 0.55, 0.7]
    buckets = [1, 1, 2, 6, 0]
    groups = ["noborder", "border", "border", "border", "border"]
    table = summarize(ratios, buckets, groups)
    cells = {(c.bucket, c.group): c for c in table.cells}
    assert table.total == 5
    assert cells[(1, "noborder")].count == 1 and cells[(1, "border")].count == 1
    assert cells[(2, "border")].share == pytest.approx(0.2)
    assert cells[(6, "border")].mean_ratio == pytest.approx(0.55)
    assert cells[(0, "border")].count == 1
    assert math.isnan(cells[(3, "noborder")].mean_ratio)
    text = format_table(table)
    assert "| 0      | outside      | border   | 1     | 20.0%" in text
    assert "| 3      | (0.20, 0.30] | noborder | 0     | 0.0%   | -" in text
    assert text.splitlines()[-1].startswith("| all    |")


def test_summarize_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        summarize([0.1], [1, 2], ["border"])


def _write_manifest(folder, rows, columns):
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def test_generate_style_manifest_uses_margin_from_config(tmp_path):
    # qdimd generate writes hole_ratio and border_distance but no bucket/group; the size is in config.json
    rows = [{"index": i, "file": f"{i:08d}.png", "hole_ratio": r, "border_distance": d}
            for i, (r, d) in enumerate([(0.05, 30), (0.05, 10), (0.35, 0), (0.61, 40)])]
    _write_manifest(tmp_path, rows, ["index", "file", "hole_ratio", "border_distance"])
    (tmp_path / "config.json").write_text(json.dumps({"config": {}, "size": [256, 256]}))
    stats = load_mask_stats(tmp_path, problems=ProblemLog())
    assert stats.origin == "manifest"
    assert stats.bucket.tolist() == [1, 1, 4, 0]
    assert list(stats.group) == ["noborder", "border", "border", "noborder"]
    stats = load_mask_stats(tmp_path, margin=35, problems=ProblemLog())
    assert list(stats.group) == ["border", "border", "border", "noborder"]


def test_manifest_with_bad_row_names_the_line(tmp_path):
    _write_manifest(tmp_path, [{"file": "a.png", "hole_ratio": "x", "border_distance": 3, "margin": 25}],
                    ["file", "hole_ratio", "border_distance", "margin"])
    with pytest.raises(InputError, match=r"manifest.csv:2"):
        load_mask_stats(tmp_path, problems=ProblemLog(strict=True))
    problems = ProblemLog()   # not strict: the row is reported, and a manifest with no usable row is an error
    with pytest.raises(InputError, match=r"no row with a usable hole_ratio"):
        load_mask_stats(tmp_path, problems=problems)
    assert problems.problems[0].line == 2


def test_folder_without_manifest_reads_masks(tmp_path):
    for i, ratio_rows in enumerate([3, 10, 40]):
        hole = np.zeros((64, 64), np.uint8)
        hole[10:10 + ratio_rows, 10:54] = 255
        Image.fromarray(hole).save(tmp_path / f"{i}.png")
    stats = load_mask_stats(tmp_path, problems=ProblemLog())
    assert stats.origin == "masks"
    assert stats.hole_ratio.tolist() == pytest.approx([3 * 44 / 4096, 10 * 44 / 4096, 40 * 44 / 4096])
    assert list(stats.group) == ["noborder", "noborder", "noborder"]  # 10 px >= round(50 * 64 / 512) = 6
    assert list(stats.decided) == [str(tmp_path)] and "holes are white (255)" in stats.decided[str(tmp_path)]


def test_stats_cli_says_how_auto_decided(tmp_path):
    from click.testing import CliRunner

    from qdimd_cli.qdimd_main import main

    for i in range(3):
        valid = np.full((64, 64), 255, np.uint8)
        valid[20:30, 20:40 + i] = 0  # black holes
        Image.fromarray(valid).save(tmp_path / f"{i}.png")
    result = CliRunner().invoke(main, ["stats", str(tmp_path), "-o", str(tmp_path.parent / "h.png")])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path}: holes are black (0)" in result.output and "3 masks (from the masks)" in result.output


def test_histogram_png(tmp_path):
    rng = np.random.default_rng(0)
    ratios = rng.uniform(0.0, 0.65, 500)
    groups = tuple(rng.choice(["noborder", "border"], 500))
    stats = MaskStats(ratios, np.zeros(500, np.int64), groups, "masks")
    rgb = render_histogram(stats, title="test")
    assert rgb.shape == (420, 900, 3) and rgb.dtype == np.uint8
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 4  # bars of both groups, edges, text
    save_png(tmp_path / "h.png", rgb)
    assert Image.open(tmp_path / "h.png").size == (900, 420)
    empty = render_histogram(MaskStats(np.zeros(0), np.zeros(0, np.int64), (), "masks"))
    assert empty.shape == (420, 900, 3)


def test_manifest_paths_stay_inside_the_folder(tmp_path):
    """qdimd stats and qdimd preview read a manifest's files only inside its folder (file and line named)."""
    from qdimd.files.preview import load_folder_masks

    outside = tmp_path / "outside.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(outside)
    folder = tmp_path / "set"
    folder.mkdir()
    for name in (str(outside), "../outside.png"):
        _write_manifest(folder, [{"index": 0, "file": name, "hole_ratio": 0.2, "border_distance": 3}],
                        ["index", "file", "hole_ratio", "border_distance"])
        with pytest.raises(InputError, match="manifest.csv:2: expected a relative path inside"):
            load_mask_stats(folder, problems=ProblemLog())
        with pytest.raises(InputError, match="manifest.csv:2: expected a relative path inside"):
            load_folder_masks(folder, 4)
