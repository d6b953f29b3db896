"""``inpaint eval`` end to end on real photos: splits, pairing, metrics per cell, report, resume, CLI errors."""
from __future__ import annotations

import csv
import functools
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cli.inpaint_main import main
from inpaint.evaluation.pairing import pair_images, read_split
from inpaint.evaluation.evaluate import PER_IMAGE, EvalConfig, evaluate_methods, plan_evaluation, run_evaluation
from inpaint.evaluation.methods import fill_identity, parse_method
from inpaint.evaluation.report import write_report
from qdimd.buckets import DEFAULT_EDGES, GROUPS, border_distance, bucket_of, default_margin, group_of, hole_ratio
from qdimd.errors import InputError

SIZE = (128, 128)
PAPER_METRICS = ("l1", "psnr", "ssim")
"""Table 1 without the Inception score (its weights cannot be downloaded here)."""


def draw_hole(rng: np.random.Generator, size: tuple[int, int], bucket: int, group: str) -> np.ndarray:
    """A stroke-like hole (cv2 lines and ellipses) in ``bucket`` and border ``group``."""
    h, w = size
    m = default_margin(h, w)
    lo, hi = DEFAULT_EDGES[bucket - 1], DEFAULT_EDGES[bucket]
    while True:
        canvas = np.zeros((h, w), np.uint8)
        a, b = (m + 1, h - m - 1) if group == "noborder" else (0, h)
        while hole_ratio(canvas > 0) <= lo + 0.2 * (hi - lo):
            p, q = rng.integers(a, b, size=(2, 2))
            if rng.random() < 0.3:
                cv2.ellipse(canvas, (int(p[0]), int(p[1])), tuple(int(x) for x in rng.integers(3, h // 6, 2)), 0, 0, 360, 255, -1)
            else:
                cv2.line(canvas, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 255, int(rng.integers(3, 12)))
            if group == "noborder":
                canvas[: m + 1], canvas[-m - 1:], canvas[:, : m + 1], canvas[:, -m - 1:] = 0, 0, 0, 0
            else:
                canvas[0, w // 3: w // 2] = 255
        hole = canvas > 0
        if bucket_of(hole_ratio(hole)) == bucket and group_of(border_distance(hole), m) == group:
            return hole


def make_split(root: Path, per_group: int = 2, seed: int = 0, size=SIZE, manifest: bool = True, buckets=range(1, 7)) -> Path:
    """A `qdimd bucket` layout (``<bucket>/<group>/*.png``, white holes, manifest.csv), both groups of ``buckets``."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in buckets:
        for g in GROUPS:
            (root / str(b) / g).mkdir(parents=True, exist_ok=True)
            for i in range(per_group):
                hole = draw_hole(rng, size, b, g)
                rel = f"{b}/{g}/m{b}{g[0]}{i}.png"
                Image.fromarray(hole.astype(np.uint8) * 255).save(root / rel)
                rows.append({"file": rel, "hole_ratio": hole_ratio(hole), "border_distance": border_distance(hole),
                             "bucket": b, "group": g})
    if manifest:
        with open(root / "manifest.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    return make_split(tmp_path_factory.mktemp("split"), per_group=3)


@pytest.fixture(scope="module")
def baseline(split, photo_dir, tmp_path_factory):
    """Telea, NS and the identity floor on the 24 real photos, 3 per group, no Inception score."""
    out = tmp_path_factory.mktemp("report")
    config = EvalConfig(str(photo_dir), str(split), ("telea", "ns", "identity"), str(out), metrics=PAPER_METRICS)
    evaluate_methods(config)
    return config, out


def read_results(out: Path, merged: bool = False) -> list[dict]:
    """Rows of ``results.csv``: the (bucket, border group) cells, and with ``merged`` the ``all`` ones too."""
    with open(out / "results.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if merged or r["group"] != "all"]


def test_telea_beats_identity_in_every_cell(baseline):
    _, out = baseline
    rows = {(r["method"], r["bucket"], r["group"]): r for r in read_results(out)}
    cells = {(b, g) for _, b, g in rows}
    assert len(cells) == 12
    for b, g in cells:
        telea, floor = rows[("telea", b, g)], rows[("identity", b, g)]
        assert float(telea["l1"]) < float(floor["l1"]), (b, g)
        assert float(telea["psnr"]) > float(floor["psnr"]), (b, g)
        assert float(telea["ssim"]) > float(floor["ssim"]), (b, g)
    # harder buckets cost more: L1 grows from bucket 1 to bucket 6
    assert float(rows[("telea", "1", "noborder")]["l1"]) < float(rows[("telea", "6", "noborder")]["l1"])


def test_results_csv_columns_and_per_image_rows(baseline):
    _, out = baseline
    with open(out / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["method", "bucket", "group", "n", "known_drift", "l1", "l1_std", "psnr", "psnr_std", "ssim", "ssim_std"]
    with open(out / PER_IMAGE, newline="") as f:
        per_image = list(csv.DictReader(f))
    assert len(per_image) == 3 * 12 * 3
    for r in read_results(out):
        mine = [float(p["l1"]) for p in per_image if (p["method"], p["bucket"], p["group"]) == (r["method"], r["bucket"], r["group"])]
        assert int(r["n"]) == len(mine) == 3
        assert float(r["l1"]) == pytest.approx(np.mean(mine))
        assert float(r["l1_std"]) == pytest.approx(np.std(mine))


def test_report_table_has_all_cells_matching_csv(baseline):
    _, out = baseline
    lines = [ln for ln in (out / "report.md").read_text(encoding="utf-8").splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert len(header) == 2 + 6 * 3 + 1 and header[2].endswith(" N") and header[3].endswith(" B")
    assert header[4].endswith(" all") and header[-1] == "all"
    keys = [(str(b), g) for b in range(1, 7) for g in (*GROUPS, "all")] + [("all", "all")]
    rows = {(r["method"], r["bucket"], r["group"]): r for r in read_results(out, merged=True)}
    metric = None
    checked = 0
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        metric = {"L1 (%) ↓": "l1", "PSNR (dB) ↑": "psnr", "SSIM ↑": "ssim"}.get(cells[0], metric if cells[0] == "" else None)
        if metric is None:
            continue
        decimals = 4 if metric == "ssim" else 2
        for k, cell in enumerate(cells[2:]):
            r = rows[(cells[1], *keys[k])]
            assert cell == f"{float(r[metric]):.{decimals}f} ± {float(r[metric + '_std']):.{decimals}f}"
            checked += 1
    assert checked == 3 * 3 * 19


def test_grids_written(baseline):
    _, out = baseline
    for b in range(1, 7):
        grid = np.asarray(Image.open(out / f"grid_{b}.png"))
        assert grid.shape == (2 * 128, 5 * 128, 3)  # N and B rows; original, masked, 3 methods
        assert grid.std() > 10


def test_resume_after_interrupt_gives_same_report(baseline, tmp_path):
    config, full = baseline
    # one pair per batch here (the full run scored 16 at a time: batching must not change the report)
    config = EvalConfig(**{**config.__dict__, "out": str(tmp_path / "r"), "batch_size": 1})
    plan = plan_evaluation(config)
    run = run_evaluation(plan)
    for _ in range(7):  # "kill" after 7 image/mask pairs
        next(run)
    run.close()
    with open(tmp_path / "r" / PER_IMAGE, "a") as f:
        f.write("telea,3,border,9,half-written")  # a row cut by the kill
    done_before = (tmp_path / "r" / PER_IMAGE).read_text().splitlines()[: 1 + 7 * 3]
    plan = plan_evaluation(config)
    assert len(plan.pending) == 36 - 7
    for _ in run_evaluation(plan):
        pass
    write_report(plan)
    per_image = (tmp_path / "r" / PER_IMAGE).read_text().splitlines()
    assert per_image[: 1 + 7 * 3] == done_before and len(per_image) == 1 + 36 * 3
    for name in ("report.md", "results.csv"):
        assert (tmp_path / "r" / name).read_text().replace(str(tmp_path / "r"), "") == (full / name).read_text().replace(str(full), "")
    assert plan_evaluation(config).pending == []  # a finished run recomputes nothing


def test_resume_with_other_options_is_refused(baseline):
    config, out = baseline
    with pytest.raises(InputError, match="seed"):
        plan_evaluation(EvalConfig(**{**config.__dict__, "seed": 1}))


def test_pairing_is_seeded_and_without_replacement(split, photo_dir):
    entries, from_manifest = read_split(split)
    assert from_manifest and len(entries) == 36
    images = [f"img{i}.png" for i in range(5)]
    pairs = pair_images(images, entries, seed=3)
    assert pairs == pair_images(images, entries, seed=3)
    assert pairs != pair_images(images, entries, seed=4)
    for b in range(1, 7):
        for g in GROUPS:
            mine = [p for p in pairs if (p.bucket, p.group) == (b, g)]
            assert len(mine) == 3  # min(5 images, 3 masks)
            assert len({p.image for p in mine}) == 3 and len({p.mask for p in mine}) == 3
            assert all(p.mask.startswith(f"{b}/{g}/") for p in mine)
    assert len(pair_images(images, entries, seed=3, limit=2)) == 24


def test_folder_without_manifest_is_measured(tmp_path, photo_dir):
    flat = tmp_path / "foreign"
    make_split(tmp_path / "s", per_group=1, seed=5, manifest=False)
    flat.mkdir()
    for i, p in enumerate(sorted((tmp_path / "s").rglob("*.png"))):
        shutil.copy(p, flat / f"{i:05d}.png")
    (flat / "notes.png").write_bytes(b"not an image")
    from qdimd.errors import ProblemLog

    problems = ProblemLog()
    entries, from_manifest = read_split(flat, problems=problems)
    assert not from_manifest and len(problems) == 1
    assert sorted((e.bucket, e.group) for e in entries) == sorted((b, g) for b in range(1, 7) for g in GROUPS)
    out = tmp_path / "out"
    evaluate_methods(EvalConfig(str(photo_dir), str(flat), ("identity",), str(out), metrics=PAPER_METRICS, size=(64, 64)))
    assert {r["bucket"] for r in read_results(out)} <= {str(b) for b in range(1, 7)}
    assert np.asarray(Image.open(out / "grid_1.png")).shape[0] % 64 == 0


def test_tiny_random_inception_score_and_resume(photo_dir, tmp_path):
    split = make_split(tmp_path / "s", per_group=2, buckets=(2, 5))
    config = EvalConfig(str(photo_dir), str(split), ("telea", "identity"), str(tmp_path / "r"),
                        allow_random_inception=True, inception_width=1 / 16, is_splits=1)
    with pytest.warns(UserWarning, match="randomly initialised Inception"):
        evaluate_methods(config)
    out = tmp_path / "r"
    rows = read_results(out)
    assert len(rows) == 8 and all(1.0 <= float(r["iscore"]) <= 2.0 + 1e-9 for r in rows)  # 1 split of 2 images
    assert all(float(r["iscore_std"]) == 0.0 for r in rows)
    assert "| IS ↑ | telea |" in (out / "report.md").read_text()
    probs = np.fromfile(out / "inception_probs.f32", np.float32).reshape(-1, 1000)
    assert probs.shape == (16, 1000) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    # kill after the probabilities of the last pair were written but before its rows: resume recomputes it
    before = (out / "results.csv").read_bytes()
    lines = (out / PER_IMAGE).read_text().splitlines(keepends=True)
    (out / PER_IMAGE).write_text("".join(lines[:-2]) + lines[-2][:10])
    with pytest.warns(UserWarning):
        evaluate_methods(config)
    assert (out / "results.csv").read_bytes() == before
    assert (out / "inception_probs.f32").stat().st_size == 16 * 1000 * 4


def test_identity_fill_is_mean_of_known():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2] = (10, 20, 30)
    image[2:] = (30, 40, 50)
    hole = np.zeros((4, 4), bool)
    hole[3] = True
    out = fill_identity(image, hole)
    assert (out[3] == (17, 27, 37)).all() and (out[:3] == image[:3]).all()  # (2*10 + 30) / 3 = 16.7 -> 17


# ---- CLI -------------------------------------------------------------------------------------------


def _eval(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)])


def test_cli_runs_and_resumes(split, photo_dir, tmp_path):
    args = ["--images", photo_dir, "--masks", split, "--method", "telea", "--method", "floor=identity",
            "--out", tmp_path / "r", "--limit", "1", "--no-iscore"]
    result = _eval(*args)
    assert result.exit_code == 0, result.output
    assert "12 image/mask pairs x 2 methods" in result.output
    assert "| floor |" in (tmp_path / "r" / "report.md").read_text()
    again = _eval(*args)
    assert again.exit_code == 0 and "already done" in again.output


@pytest.mark.parametrize("method, message", [
    ("bogus", "Expected a method among identity, telea, ns, pconv:CKPT"),
    ("pconv", "Expected method pconv:CKPT"),
    ("pconv:missing.pt", "missing.pt: no such file"),
    ("simk:a.pt", "Expected method simk:CKPT:DB"),
])
def test_cli_bad_method(split, photo_dir, tmp_path, method, message):
    result = _eval("--images", photo_dir, "--masks", split, "--method", method, "--out", tmp_path / "r", "--no-iscore")
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_cli_input_errors(split, photo_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (["--images", tmp_path / "empty", "--masks", split], "no image files"),
        (["--images", tmp_path / "nope", "--masks", split], "no such image folder"),
        (["--images", photo_dir, "--masks", tmp_path / "nope"], "no such mask folder"),
        (["--images", photo_dir, "--masks", tmp_path / "empty"], "no mask in any hole-ratio bucket"),
    ]
    broken = tmp_path / "broken"
    shutil.copytree(split, broken)
    (broken / "1" / "border" / "m1b0.png").unlink()
    cases.append((["--images", photo_dir, "--masks", broken, "--strict"], "manifest.csv:5: 1/border/m1b0.png: no such file"))
    mixed = make_split(tmp_path / "mixed", per_group=1, manifest=False)
    Image.fromarray(draw_hole(np.random.default_rng(1), (96, 96), 2, "border").astype(np.uint8) * 255).save(mixed / "odd.png")
    cases.append((["--images", photo_dir, "--masks", mixed], "expected masks of one size, got 96x96 (1 masks), 128x128"))
    for args, message in cases:
        result = _eval(*args, "--method", "identity", "--out", tmp_path / "r", "--no-iscore")
        assert result.exit_code == 1 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    # the mixed-size folder works once a size is chosen
    result = _eval("--images", photo_dir, "--masks", mixed, "--method", "identity", "--out", tmp_path / "m",
                   "--no-iscore", "--size", "64")
    assert result.exit_code == 0, result.output


def test_cli_inception_offline_error(split, photo_dir, tmp_path, monkeypatch):
    import torch
    from urllib.error import URLError

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(URLError("offline")))
    result = _eval("--images", photo_dir, "--masks", split, "--method", "identity", "--out", tmp_path / "r", "--limit", "1")
    assert result.exit_code == 1 and "--inception-weights" in result.output


def test_parse_method_labels(tmp_path):
    ckpt = tmp_path / "run" / "last.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"x")
    assert parse_method("telea").label == "telea"
    spec = parse_method(f"pconv:{ckpt}")
    assert (spec.label, spec.kind, spec.checkpoint) == ("pconv:last", "pconv", str(ckpt))
    assert parse_method(f"mine=sim0:{ckpt}").label == "mine"


def test_model_methods_end_to_end(photo_dir, tmp_path, monkeypatch):
    """pconv, sim0 and simk (two-step retrieval, random tiny networks) run through eval; Sim-K's grid shows the retrieved image."""
    from inpaint.checkpoint import save_checkpoint
    from inpaint.retrieval.database import build_database
    from inpaint.retrieval.descriptors import DescriptorConfig
    from inpaint.images import find_images
    from inpaint.nn.models import create_model
    from inpaint.nn.vgg import load_vgg16

    split = make_split(tmp_path / "s", per_group=1, buckets=(3,))
    ckpts = {}
    for name, kwargs in (("pconv", {"image_size": 128, "width": 1 / 16}), ("sim0", {"image_size": 128, "width": 1 / 16}),
                         ("sim1", {"image_size": 128, "width": 1 / 16})):
        ckpts[name] = tmp_path / f"{name}.pt"
        save_checkpoint(ckpts[name], create_model(name, **kwargs), model_name=name, model_kwargs=kwargs, step=0, config={})
    from inpaint.retrieval import simk

    # descriptors of a random VGG are all ~0.99 similar: switch the near-duplicate exclusion off
    monkeypatch.setattr(simk, "fill_simk", functools.partial(simk.fill_simk, dup_threshold=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vgg = load_vgg16(allow_random=True, width=1 / 16)
        build_database(find_images(photo_dir)[:8], tmp_path / "db", vgg=vgg, vgg_source="random",
                       descriptor=DescriptorConfig("pooled", size=64))
        methods = (f"pconv:{ckpts['pconv']}", f"sim0:{ckpts['sim0']}", f"simk:{ckpts['sim1']}:{tmp_path / 'db'}:{ckpts['pconv']}")
        config = EvalConfig(str(photo_dir), str(split), methods, str(tmp_path / "r"), limit=1, metrics=PAPER_METRICS,
                            allow_random_vgg=True)
        evaluate_methods(config)
    rows = read_results(tmp_path / "r")
    assert {r["method"] for r in rows} == {"pconv:pconv", "sim0:sim0", "simk:sim1"} and len(rows) == 6
    grid = np.asarray(Image.open(tmp_path / "r" / "grid_3.png"))
    assert grid.shape[1] == 6 * 128  # original, masked, pconv, sim0, simk, simk retrieved


def test_report_cells_format_infinite_psnr():
    from inpaint.evaluation.report import format_cell

    assert format_cell(float("inf"), 0.0, "psnr") == "inf"
    assert format_cell(20.0, 1.23456, "psnr") == "20.00 ± 1.23"
    assert format_cell(0.9, 0.01, "ssim") == "0.9000 ± 0.0100"


def test_split_config_json_polarity_and_edges(split, photo_dir, tmp_path):
    black = tmp_path / "black"
    shutil.copytree(split, black)
    for p in black.rglob("*.png"):
        Image.fromarray(255 - np.asarray(Image.open(p))).save(p)
    (black / "config.json").write_text('{"hole_value": 0, "border_margin": 12}')
    runs = {}
    for name, root in (("white", split), ("black", black)):
        evaluate_methods(EvalConfig(str(photo_dir), str(root), ("identity",), str(tmp_path / f"report-{name}"), limit=1,
                                    metrics=PAPER_METRICS))
        runs[name] = (tmp_path / f"report-{name}" / PER_IMAGE).read_text()
    assert runs["white"] == runs["black"]
    (black / "config.json").write_text('{"edges": [0.0, 0.5, 1.0]}')
    with pytest.raises(InputError, match="custom bucket edges"):
        read_split(black)


def test_split_sorted_by_qdimd_bucket_from_folder(tmp_path, photo_dir):
    """A `qdimd bucket --from` split (config.json: hole_value "auto", per-row polarity) of black-hole masks
    larger than the photos: masks keep their size, photos are scaled up to it, the margin comes from the split."""
    from qdimd.errors import ProblemLog
    from qdimd.sets.sorting import sort_masks

    src = tmp_path / "foreign"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i, (b, g) in enumerate([(1, "noborder"), (3, "border"), (6, "border")]):
        hole = draw_hole(rng, (160, 160), b, g)
        Image.fromarray(np.where(hole, 0, 255).astype(np.uint8)).save(src / f"{i:05d}.png")  # holes black
    sort_masks(src, tmp_path / "split", hole_value="auto", margin=7, problems=ProblemLog())
    out = tmp_path / "r"
    result = _eval("--images", photo_dir, "--masks", tmp_path / "split", "--method", "identity", "--out", out, "--no-iscore")
    assert result.exit_code == 0, result.output
    rows = read_results(out)
    assert sorted((r["bucket"], r["group"]) for r in rows) == [("1", "noborder"), ("3", "border"), ("6", "border")]
    report = (out / "report.md").read_text()
    assert "160x160 px" in report and "border margin 7 px" in report
    assert "scaled" in result.output  # the 128x128 photos are announced as scaled to the masks' 160x160


def test_unreadable_photo_is_reported_and_skipped_up_front(split, photo_dir, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(photo_dir, photos)
    (photos / "aaa_broken.jpg").write_bytes(b"not an image")  # sorted first: would be paired in every group
    result = _eval("--images", photos, "--masks", split, "--method", "identity", "--out", tmp_path / "r", "--no-iscore")
    assert result.exit_code == 0, result.output
    assert "skipped 1" in result.output and "aaa_broken.jpg" in result.output
    images = {r["image"] for r in csv.DictReader(open(tmp_path / "r" / PER_IMAGE))}
    assert "aaa_broken.jpg" not in images and len(images) > 1
