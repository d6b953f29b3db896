"""``inpaint eval`` throughput on CPU, and the share of the metrics in a PConv evaluation.

Run: ``python -m benchmarks.bench_eval [--quick]``. Measured side by side in one run:

- per image, a ``folder:`` method (predictions another tool wrote, here Telea's
  fills saved as PNG by ``inpaint pairs``' stems: header check, decode,
  composite, known drift, L1/PSNR/SSIM) against Telea filling and scoring the
  same pairs, each timed from plan to last row, alternated, median of 3 runs
  (``--folder-only`` runs just this); a folder method must not cost more;
- end-to-end evaluation throughput (images/s: image load and resize, mask load,
  fill, L1/PSNR/SSIM, incremental rows; no Inception score; the first image,
  which also loads the checkpoint, is left out) for Telea and for a
  full-size ``pconv256`` (25.8 M parameters) with random weights (the weights do
  not change the cost) at 256x256, on real photos (Kodak24 from ../shared when
  present, else the test photos) under QD-IMD masks from ``qdimd.MaskGenerator``;
- per image at 256: the metrics (L1 + PSNR + SSIM) versus one PConv forward
  (:func:`inpaint.fill.unet.fill_image`), target metrics < 20% of the forward;
- the Inception-v3 forward per image at 299 (random full-size weights), the
  extra cost of the Inception score;
- the newer metrics per image at 256, batched as ``inpaint eval`` runs them
  (``--batch-size`` images per forward, random full-size weights): LPIPS with
  AlexNet and with VGG-16 (one backbone pass over composite and truth), the
  FID Inception's pool3 features (composite and truth); per cell, FID from
  ``N`` 2048-d features (our exact SVD route versus pytorch-fid's
  ``scipy.linalg.sqrtm``) and the P-IDS/U-IDS linear SVM (scikit-learn).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "data" / "images" / "kodak24"
SIZE = 256


def _photos() -> Path:
    return KODAK if KODAK.is_dir() else ROOT / "tests" / "data" / "photos"


def _split(root: Path, n: int) -> Path:
    """``n`` QD-IMD masks at 256 sorted into their measured buckets, in the ``qdimd bucket`` layout."""
    from inpaint.evaluation.pairing import measure_mask
    from qdimd.masks.generator import MaskConfig, MaskGenerator

    gen = MaskGenerator(MaskConfig(size=(SIZE, SIZE)), seed=0)
    rows, i = [], 0
    while len(rows) < n:
        hole = gen.generate(i)
        entry = measure_mask(hole, f"{i:05d}.png", 255)
        i += 1
        if entry.bucket:
            rel = f"{entry.bucket}/{entry.group}/{i:05d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(hole.astype(np.uint8) * 255).save(root / rel)
            rows.append({"file": rel, "bucket": entry.bucket, "group": entry.group})
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "bucket", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def _throughput(photos: Path, split: Path, method: str, out: Path) -> tuple[float, int]:
    from inpaint.evaluation.evaluate import EvalConfig, plan_evaluation, run_evaluation

    plan = plan_evaluation(EvalConfig(str(photos), str(split), (method,), str(out), metrics=("l1", "psnr", "ssim"),
                                      size=(SIZE, SIZE), batch_size=1))  # one pair per step: the first step is left out
    run = run_evaluation(plan)
    next(run)  # the first pair also loads the method (checkpoint): left out of the timing
    start = time.perf_counter()
    n = sum(1 for _ in run)
    return n / (time.perf_counter() - start), n


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    parser.add_argument("--batch-size", type=int, default=16, help="images per metric-network forward")
    parser.add_argument("--cell", type=int, default=500, help="images of the cell timed for FID and P-IDS/U-IDS")
    parser.add_argument("--folder-only", action="store_true", help="only the folder-method versus Telea comparison")
    args = parser.parse_args(argv)
    folder_vs_telea(_photos(), 24 if args.quick else 48, 3)
    if args.folder_only:
        return
    import torch

    from inpaint.checkpoint import save_checkpoint
    from inpaint.fill.unet import fill_image
    from inpaint.images import find_images, load_image
    from inpaint.nn.inception import inception_probs, random_inception
    from inpaint.evaluation.metrics import image_metrics
    from inpaint.nn.models import create_model
    from qdimd.io import hole_from_gray, load_gray

    n_pairs, repeats = (5, 3) if args.quick else (13, 7)
    photos = _photos()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; photos {photos}; {SIZE}x{SIZE}; "
          f"{n_pairs} image/mask pairs per method")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        split = _split(tmp / "split", n_pairs)
        model = create_model("pconv256").eval()
        save_checkpoint(tmp / "pconv256.pt", model, model_name="pconv256", model_kwargs={}, step=0, config={})
        # each pair is one image under one mask; the split has n_pairs masks, so each method sees n_pairs images
        telea_ips, n_t = _throughput(photos, split, "telea", tmp / "r_telea")
        pconv_ips, n_p = _throughput(photos, split, f"pconv:{tmp / 'pconv256.pt'}", tmp / "r_pconv")

        image = load_image(find_images(photos)[0], (SIZE, SIZE))
        hole = hole_from_gray(load_gray(next(split.rglob("*.png"))), 255)
        output = fill_image(model, image, hole)
        t_metrics = _median_time(lambda: image_metrics(output, image), repeats * 3)
        t_forward = _median_time(lambda: fill_image(model, image, hole), repeats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inception = random_inception()
        t_inception = _median_time(lambda: inception_probs(inception, output[None]), repeats)

        costs = _new_metric_costs(output, image, repeats, args.batch_size, args.cell)

    print(f"{'measure':<48}{'value':>12}")
    print(f"{'eval throughput, telea (images/s)':<48}{telea_ips:>12.2f}   ({n_t} images)")
    print(f"{'eval throughput, pconv256 random weights (images/s)':<48}{pconv_ips:>12.2f}   ({n_p} images)")
    print(f"{'metrics L1+PSNR+SSIM per image (ms)':<48}{t_metrics * 1e3:>12.1f}")
    print(f"{'PConv forward (fill_image) per image (ms)':<48}{t_forward * 1e3:>12.1f}")
    print(f"{'metrics / PConv forward (target < 20%)':<48}{100 * t_metrics / t_forward:>11.1f}%")
    print(f"{'Inception-v3 forward per image at 299 (ms)':<48}{t_inception * 1e3:>12.1f}")
    print(f"{'Inception / PConv forward':<48}{100 * t_inception / t_forward:>11.1f}%")
    for name, seconds in costs.items():
        per_image = "per image" in name
        value = f"{seconds * 1e3:>12.1f}" if per_image else f"{seconds:>12.3f}"
        ratio = f"   ({100 * seconds / t_forward:.0f}% of a PConv forward)" if per_image else ""
        print(f"{name + (' (ms)' if per_image else ' (s)'):<48}{value}{ratio}")


def _per_image(photos: Path, split: Path, method: str, out: Path) -> tuple[float, int]:
    """Seconds per image of a whole evaluation of ``method`` (plan, fill or read, composite, L1/PSNR/SSIM, rows)."""
    import shutil

    from inpaint.evaluation.evaluate import EvalConfig, plan_evaluation, run_evaluation

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    plan = plan_evaluation(EvalConfig(str(photos), str(split), (method,), str(out), metrics=("l1", "psnr", "ssim"),
                                      size=(SIZE, SIZE)))
    n = sum(1 for _ in run_evaluation(plan))
    return (time.perf_counter() - start) / n, n


def folder_vs_telea(photos: Path, n_masks: int, rounds: int) -> None:
    """Print the per-image cost of scoring Telea's fills from a folder against running Telea, side by side."""
    from inpaint.evaluation.evaluate import EvalConfig
    from inpaint.evaluation.export_pairs import plan_pairs, read_pairs_manifest, write_pairs
    from inpaint.fill.classical import fill_classical

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        split = _split(tmp / "split", n_masks)
        pairs = tmp / "pairs"
        for _ in write_pairs(plan_pairs(EvalConfig(str(photos), str(split), (), str(pairs), size=(SIZE, SIZE)))):
            pass
        preds = tmp / "preds"
        preds.mkdir()
        for row in read_pairs_manifest(pairs):
            image = np.asarray(Image.open(pairs / "images" / f"{row['stem']}.png"))
            hole = np.asarray(Image.open(pairs / "masks" / f"{row['stem']}.png")) > 0
            Image.fromarray(fill_classical(image, hole, "telea")).save(preds / f"{row['stem']}.png")
        times: dict[str, list[float]] = {"telea": [], "folder": []}
        for _ in range(rounds):
            for name, method in (("telea", "telea"), ("folder", f"folder:{preds}")):
                seconds, n = _per_image(photos, split, method, tmp / "out")
                times[name].append(seconds)
        telea, folder = statistics.median(times["telea"]), statistics.median(times["folder"])
        print(f"per image at {SIZE}x{SIZE}, {n} pairs, median of {rounds} alternated runs (plan to last row):")
        print(f"{'  telea: fill + score (ms)':<48}{telea * 1e3:>12.2f}")
        print(f"{'  folder: read prediction + score (ms)':<48}{folder * 1e3:>12.2f}")
        print(f"{'  folder / telea (target <= 100%)':<48}{100 * folder / telea:>11.1f}%")


def _new_metric_costs(output: np.ndarray, image: np.ndarray, repeats: int, batch: int, cell: int) -> dict[str, float]:
    """Seconds per image of LPIPS (alex, vgg) and FID features in batches of ``batch``; per cell of FID and IDS."""
    from scipy import linalg

    from inpaint.evaluation.fid import fid_from_features
    from inpaint.evaluation.ids import discriminative_scores
    from inpaint.evaluation.lpips import load_lpips, lpips_scores
    from inpaint.nn.fid_inception import fid_features, load_fid_inception

    outputs, truths = np.stack([output] * batch), np.stack([image] * batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nets = {"alex": load_lpips("alex", allow_random=True), "vgg": load_lpips("vgg", allow_random=True),
                "fid": load_fid_inception(allow_random=True)}
    costs = {
        f"LPIPS alex per image, batch {batch}": _median_time(lambda: lpips_scores(nets["alex"], outputs, truths, batch_size=batch), repeats) / batch,
        f"LPIPS vgg per image, batch {batch}": _median_time(lambda: lpips_scores(nets["vgg"], outputs, truths, batch_size=batch), repeats) / batch,
        f"FID features per image (+ truth), batch {batch}": _median_time(
            lambda: fid_features(nets["fid"], np.concatenate([outputs, truths]), batch_size=batch), repeats) / batch,
    }
    rng = np.random.default_rng(0)
    real = rng.normal(size=(cell, 2048)).astype(np.float32)
    fake = (real + rng.normal(0.3, 1.0, size=real.shape)).astype(np.float32)
    costs[f"FID of one cell, n={cell}, ours (SVD)"] = _median_time(lambda: fid_from_features(real, fake), repeats)
    start = time.perf_counter()
    r64, f64 = real.astype(np.float64), fake.astype(np.float64)
    linalg.sqrtm(np.cov(r64, rowvar=False) @ np.cov(f64, rowvar=False))
    costs[f"  same, scipy.linalg.sqrtm (pytorch-fid)"] = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear's convergence warning, as in MAT
        discriminative_scores(real, fake)
    costs[f"P-IDS/U-IDS SVM of one cell, n={cell}"] = time.perf_counter() - start
    return costs


if __name__ == "__main__":
    main()
