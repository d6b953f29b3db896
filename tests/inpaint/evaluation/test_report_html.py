"""``report.html`` is one self-contained page; ``results.json`` records the protocol and the weights by SHA-256."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from helpers import nvidia_style_folder

from inpaint.evaluation.evaluate import EvalConfig, evaluate_methods, plan_evaluation
from inpaint.evaluation.report.protocol import weight_hashes
from inpaint.evaluation.report.svg import nice_ticks


@pytest.fixture(scope="module")
def report(photo_dir, tmp_path_factory) -> Path:
    masks = nvidia_style_folder(tmp_path_factory.mktemp("masks"), per_group=2)
    out = tmp_path_factory.mktemp("report")
    evaluate_methods(EvalConfig(str(photo_dir), str(masks), ("telea", "identity"), str(out), size=(64, 64),
                                metrics=("l1", "psnr", "ssim")))
    return out


def test_the_page_is_self_contained(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|@import|url\(", page, re.I)
    sources = re.findall(r"""<img[^>]*\bsrc=["']([^"']*)""", page)
    assert sources and all(s.startswith("data:image/") for s in sources)


def test_the_page_has_plots_tables_grids_and_worst_images(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4  # l1, psnr, ssim, known drift
    for title in ("L1 (%)", "PSNR (dB)", "SSIM"):
        assert f">{title}" in page
    assert "telea all" in page and "identity B" in page  # every method, per group
    assert "<table>" in page and "(0.5,0.6] N" in page
    assert "bucket 6: original, masked, each method" in page
    worst = page[page.index("Worst images"):]
    assert worst.count("<img") == 2 * 6 * 3  # 2 methods x 6 buckets x 3 worst (4 images per bucket)
    assert re.search(r"<figcaption><b>6[NB]_0000\d_[\w-]+</b> \((no)?border\): ", worst)  # the stem finds the prediction
    assert len(list((report / "worst_parts").glob("*.jpg"))) >= 36


def test_results_json_records_the_protocol(report):
    import orjson

    info = orjson.loads((report / "results.json").read_bytes())
    protocol = info["protocol"]
    assert "composite" in protocol and protocol["resize_preds"] is False and protocol["size"] == [64, 64]
    assert protocol["counts"]["telea"]["all/all"] == 24 and protocol["counts"]["identity"]["3/border"] == 2
    assert protocol["weights"] == {}  # no metric network in this run


def test_weights_are_recorded_by_sha256_or_random(tmp_path, photo_dir, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached file of this machine is found
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"some weights")
    masks = nvidia_style_folder(tmp_path / "masks", per_group=1)
    config = EvalConfig(str(photo_dir), str(masks), ("telea",), str(tmp_path / "r"), size=(64, 64),
                        metrics=("l1", "lpips", "iscore", "fid"), inception_weights=str(weights), allow_random_weights=True)
    hashes = weight_hashes(plan_evaluation(config))
    assert hashes["inception"] == {"file": str(weights), "sha256": hashlib.sha256(b"some weights").hexdigest()}
    assert hashes["fid_inception"]["sha256"] == "random" and hashes["lpips_linear"]["sha256"] == "random"


@pytest.mark.parametrize("lo, hi", [(0.0, 1.0), (17.3, 52.9), (0.8102, 0.9995), (3.0, 3.0), (0.0, 0.0)])
def test_plot_ticks_cover_the_values(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 12
    assert ticks[0] >= 0 or lo < 0  # a drift of 0 everywhere gets no negative axis


def test_plot_legend_of_many_series_is_not_cut_off():
    from inpaint.evaluation.report.svg import Series, line_plot

    series = [Series(f"m{k} {g}", "#000", "", (1.0, 2.0)) for k in range(7) for g in ("all", "N", "B")]
    svg = line_plot("L1", ["(0.01,0.1]", "(0.1,0.2]"], series)
    height = float(re.search(r'<svg[^>]*height="(\d+)"', svg).group(1))
    last = max(float(y) for y in re.findall(r'<text x="[\d.]+" y="([\d.]+)">m\d', svg))
    assert last + 4 <= height  # the 21st legend row (m6 B) lies inside the picture


def test_plot_labels_of_lama_bins_are_slanted_not_overlapping():
    from inpaint.evaluation.report.svg import Series, line_plot

    lama = [f"{10 * k}-{10 * k + 10}%" for k in range(10)]
    assert "rotate(" in line_plot("L1", lama, [Series("a all", "#000", "", (1.0,) * 10)])
    assert "rotate(" not in line_plot("L1", ["(0.01,0.1]", "(0.1,0.2]", "(0.2,0.3]", "(0.3,0.4]", "(0.4,0.5]",
                                             "(0.5,0.6]"], [Series("a all", "#000", "", (1.0,) * 6)])


def test_scaled_photo_note_names_size_not_masks_when_size_is_given(report):
    md = (report / "report.md").read_text(encoding="utf-8")  # 128 px photos, 512 px masks, --size 64
    assert "are scaled to cover 64x64 (--size)" in md and "the masks' size" not in md


def test_plot_legend_of_a_long_method_name_is_not_cut_off():
    from inpaint.evaluation.report.svg import Series, label_width, line_plot

    name = "stable-diffusion-2-inpainting-fp16 all (inf)"
    svg = line_plot("PSNR", ["(0.01,0.1]", "(0.1,0.2]"], [Series(name, "#000", "", (1.0, 2.0))])
    width = float(re.search(r'<svg[^>]*width="(\d+)"', svg).group(1))
    x = float(re.search(rf'<text x="([\d.]+)" y="[\d.]+">{re.escape(name)}<', svg).group(1))
    assert x + label_width(name) <= width
