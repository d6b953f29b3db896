"""``inpaint eval`` with FID, LPIPS, P-IDS/U-IDS, the merged group ``all`` and LaMa's area bins, end to end."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import rect_hole, save_gray
from scipy import linalg

from cli.evaluate import METRIC_NAMES as CLI_METRICS
from cli.inpaint_main import main
from inpaint.evaluation.bins import lama_bin
from inpaint.evaluation.evaluate import EvalConfig, evaluate_methods, plan_evaluation
from inpaint.evaluation.fid import fid_from_features
from inpaint.evaluation.plan import METRIC_NAMES, check_metrics
from inpaint.evaluation.report import write_report

SMALL = 1 / 8
"""Inception width of the library runs: 256-d features, so that scipy's sqrtm stays fast."""


@pytest.fixture(scope="module")
def masks(tmp_path_factory) -> Path:
    """Eight 64x64 rectangle holes without a manifest: buckets 2 and 5, N and B, two of each (measured)."""
    root = tmp_path_factory.mktemp("masks")
    for i, (ratio, distance) in enumerate([(0.14, 20), (0.16, 18), (0.15, 0), (0.17, 0),
                                           (0.44, 8), (0.46, 7), (0.45, 0), (0.47, 0)]):
        save_gray(root / f"{i:05d}.png", rect_hole(64, ratio, distance).astype(np.uint8) * 255)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory, copy_photos) -> Path:
    return copy_photos(tmp_path_factory.mktemp("p") / "photos", 4)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    diff = real.mean(axis=0) - fake.mean(axis=0)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))


@pytest.fixture(scope="module")
def run(photos, masks, tmp_path_factory):
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("report")
    config = EvalConfig(str(photos), str(masks), ("telea", "identity"), str(out), batch_size=3,
                        metrics=check_metrics(["l1", "lpips", "fid", "pids", "uids"]), allow_random_weights=True,
                        inception_width=SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluate_methods(config)
    return config, out


def test_cli_metric_names_match_the_library():
    assert CLI_METRICS == METRIC_NAMES
    assert check_metrics(["fid", "l1", "fid"]) == ("l1", "fid")
    with pytest.raises(ValueError, match="among l1, psnr"):
        check_metrics(["kid"])


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # sqrtm of the singular covariances of 2-8 images
def test_columns_and_fid_recomputed_from_saved_features(run):
    _, out = run
    rows = read_csv(out / "results.csv")
    assert list(rows[0]) == ["method", "bucket", "group", "n", "known_drift", "l1", "l1_std", "lpips", "lpips_std", "fid", "pids", "uids"]
    assert list(read_csv(out / "per_image.csv")[0])[-3:] == ["known_drift", "l1", "lpips"]
    checked = 0
    for r in rows:
        data = np.load(out / "features" / f"{r['method']}__{r['bucket']}_{r['group']}.npz")
        real, fake = data["real"], data["fake"]
        assert real.shape == fake.shape == (int(r["n"]), 256) and real.dtype == np.float32
        assert float(r["fid"]) == pytest.approx(scipy_fid(real, fake), rel=1e-5, abs=1e-9)
        assert 0.0 <= float(r["pids"]) <= 1.0 and 0.0 <= float(r["uids"]) <= 1.0
        checked += 1
    assert checked == 2 * (2 * 3 + 1)  # two methods x (2 buckets x N, B, all + overall)


def test_merged_group_all_pools_both_border_groups(run):
    _, out = run
    per_image = read_csv(out / "per_image.csv")
    rows = {(r["method"], r["bucket"], r["group"]): r for r in read_csv(out / "results.csv")}
    for method in ("telea", "identity"):
        for bucket in ("2", "5"):
            mine = [float(p["lpips"]) for p in per_image if (p["method"], p["bucket"]) == (method, bucket)]
            merged = rows[(method, bucket, "all")]
            assert int(merged["n"]) == len(mine) == sum(int(rows[(method, bucket, g)]["n"]) for g in ("noborder", "border"))
            assert float(merged["lpips"]) == pytest.approx(np.mean(mine))
            assert float(merged["lpips_std"]) == pytest.approx(np.std(mine))
        overall = rows[(method, "all", "all")]
        assert int(overall["n"]) == 8
        # the overall real features are the ground truths of both buckets, stacked in pairing order
        data = np.load(out / "features" / f"{method}__all_all.npz")
        parts = [np.load(out / "features" / f"{method}__{b}_{g}.npz")["real"] for b in ("2", "5") for g in ("noborder", "border")]
        assert np.array_equal(data["real"], np.concatenate(parts))
    assert all(float(rows[("telea", b, "all")]["lpips"]) < float(rows[("identity", b, "all")]["lpips"]) for b in ("2", "5"))
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "(0.1,0.2] all" in report and "FID ↓" in report and "fewer than 2048 images" in report


def test_lama_bins_regroup_without_recomputing(run):
    config, out = run
    lama = EvalConfig(**{**config.__dict__, "bins": "lama"})
    plan = plan_evaluation(lama)
    assert plan.pending == []  # bins are a report option: the run folder is reused
    (out / "features" / "my-own.npz").write_bytes(b"not this run's")  # never removed with the other binning's files
    write_report(plan)
    assert (out / "features" / "my-own.npz").read_bytes() == b"not this run's"
    (out / "features" / "my-own.npz").unlink()
    per_image = read_csv(out / "per_image.csv")
    rows = read_csv(out / "results.csv")
    assert {r["group"] for r in rows} == {"all"}
    assert {r["bucket"] for r in rows} == {"10-20%", "40-50%", "all"}
    for r in rows:
        mine = [p for p in per_image if p["method"] == r["method"] and r["bucket"] in ("all", lama_bin(float(p["hole"])))]
        assert int(r["n"]) == len(mine)
    assert (out / "features" / "telea__10-20pct_all.npz").is_file() and not (out / "features" / "telea__2_all.npz").exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "dashed: N" not in page and "LaMa's 10% hole-area bins" in page  # no N/B lines to explain
    write_report(plan_evaluation(config))  # back to the paper bins for the other tests


def _eval(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)])


def test_cli_lpips_and_fid_with_random_weights(photos, masks, tmp_path):
    out = tmp_path / "r"
    result = _eval("--images", photos, "--masks", masks, "--method", "telea", "--out", out, "--metric", "lpips",
                   "--metric", "fid", "--allow-random-weights", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "random" in result.output and "fewer than 2048 images" in result.output
    rows = read_csv(out / "results.csv")
    assert list(rows[0]) == ["method", "bucket", "group", "n", "known_drift", "lpips", "lpips_std", "fid"]
    assert len(rows) == 2 * 3 + 1
    for r in rows:
        data = np.load(out / "features" / f"telea__{r['bucket']}_{r['group']}.npz")
        assert data["real"].shape == data["fake"].shape == (int(r["n"]), 2048)
        if int(r["n"]) >= 2:
            assert float(r["fid"]) == pytest.approx(fid_from_features(data["real"], data["fake"]), rel=1e-9)
        else:
            assert r["fid"] == "nan"  # one image: no covariance
        assert float(r["lpips"]) > 0


def test_cli_offline_without_weights_says_where_each_file_goes(photos, masks, tmp_path, monkeypatch):
    import inpaint.evaluation.lpips as lp

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(URLError("offline")))
    monkeypatch.setattr(lp, "package_linear_file", lambda net: None)
    base = ["--images", photos, "--masks", masks, "--method", "telea", "--limit", "1"]
    result = _eval(*base, "--out", tmp_path / "a", "--metric", "fid")
    assert result.exit_code == 1 and "--fid-weights" in result.output
    assert "pt_inception-2015-12-05-6726825d.pth" in result.output and str(tmp_path / "hub" / "checkpoints") in result.output
    result = _eval(*base, "--out", tmp_path / "b", "--metric", "lpips")
    assert result.exit_code == 1 and "--alexnet-weights" in result.output and "alexnet-owt-7be5be79.pth" in result.output
    # with the backbone given, the linear layers are the missing file
    torch.save(__import__("inpaint.nn.alexnet", fromlist=["x"]).random_alexnet().state_dict(), tmp_path / "alexnet.pth")
    result = _eval(*base, "--out", tmp_path / "c", "--metric", "lpips", "--alexnet-weights", tmp_path / "alexnet.pth")
    assert result.exit_code == 1 and "--lpips-weights" in result.output and "lpips_v0.1_alex-df73285e.pth" in result.output
    assert not (tmp_path / "a" / "per_image.csv").read_text().splitlines()[1:]  # nothing computed before the check


def test_resumed_run_gives_the_same_features_and_report(run, tmp_path):
    from inpaint.evaluation.evaluate import run_evaluation

    config, full = run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_report(plan_evaluation(config))  # the full run's report in paper bins
        config = EvalConfig(**{**config.__dict__, "out": str(tmp_path / "r")})  # batches of 3 pairs, as the full run
        steps = run_evaluation(plan_evaluation(config))
        for _ in range(4):  # "killed" after the first pair of the second batch: two batches (6 pairs) are on disk
            next(steps)
        steps.close()
        plan = plan_evaluation(config)
        assert len(plan.pending) == 8 - 6
        for _ in run_evaluation(plan):
            pass
        write_report(plan)
    assert (tmp_path / "r" / "results.csv").read_bytes() == (full / "results.csv").read_bytes()
    assert sorted(p.name for p in (full / "features").glob("*.npz")) == sorted(
        p.name for p in (tmp_path / "r" / "features").glob("*.npz"))
    for path in sorted((full / "features").glob("*.npz")):
        a, b = np.load(path), np.load(tmp_path / "r" / "features" / path.name)
        assert np.array_equal(a["real"], b["real"]) and np.array_equal(a["fake"], b["fake"])
