"""Proof that ``inpaint train`` learns: a validation learning curve of a narrow PConv on real photos.

What it does, in one run (``python -m benchmarks.learning_curve``):

1. Splits the photos of ``--images`` (default ``../shared/data/images/kodak24``,
   the 24 Kodak photos) with the seed into ``--val-photos`` validation photos
   and training photos; no validation photo is ever trained on.
2. Writes ``--train-crops`` random crops of the training photos (a random
   square of 1/4 to 3/4 of the shorter side at a random place, resized to
   ``--size`` with bicubic filtering) as PNG files: the training folder, so the
   public entry point trains on random crops of real photos.
3. Makes the validation pairs: ``--val-crops`` random crops per validation photo
   (drawn the same way) with QD-IMD masks of the *test* stroke categories,
   without augmentation (training masks are drawn from the train categories,
   augmented), from a generator seeded differently from training.
4. Trains ``pconv`` (``--width``, default 0.25, at ``--size``, default 128) with
   :func:`inpaint.training.loop.train`, in segments of ``--val-every`` steps
   (each segment resumes the run exactly, so the run is the one that
   ``inpaint train`` would make), until ``--max-steps`` or the ``--minutes``
   budget. The loss is the pixel and TV terms only, ``--loss-weights 1 6 0 0
   0.1``: no ImageNet VGG-16 weights can be had offline and with random ones the
   perceptual and style terms mean nothing (with their weights at 0 the loop
   loads no VGG-16 at all).
5. After every segment (and before the first step, for the He-initialised
   model) fills every validation pair with the model
   (:func:`inpaint.fill.fill_image`, the composite) and scores hole L1 (mean
   absolute error over hole pixels, % of 255) and PSNR (whole composite, dB, the
   eval metric), means over the pairs.
6. Scores the same pairs with the identity (mean fill) and Telea baselines and
   draws ``--out`` (default ``docs/learning_curve.png``): both metrics against
   steps with the baselines as horizontal lines. The numbers go to
   ``curve.csv`` in the run folder and to stdout.

Nothing is tuned for the picture: the schedule is the paper's (Adam 2e-4, batch
6) and whatever the validation gives is drawn.

Run: ``.venv/bin/python -m benchmarks.learning_curve [--images DIR] [--minutes 12] [--run-dir DIR]``.
"""
from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "data" / "images" / "kodak24"
LOSS_WEIGHTS = (1.0, 6.0, 0.0, 0.0, 0.1)   # valid, hole, perceptual, style, tv


@dataclass(frozen=True)
class Pair:
    """One validation pair: a ``(S, S, 3)`` uint8 crop and its ``(S, S)`` bool hole."""

    image: np.ndarray
    hole: np.ndarray


def split_photos(files: list[Path], n_val: int, rng: np.random.Generator) -> tuple[list[Path], list[Path]]:
    """``(train, val)``: ``n_val`` photos drawn with ``rng`` for validation, the rest for training."""
    if not 1 <= n_val < len(files):
        raise ValueError(f"Expected 1 <= --val-photos < {len(files)} (the photos found), got {n_val}")
    val = set(rng.choice(len(files), size=n_val, replace=False).tolist())
    return [f for i, f in enumerate(files) if i not in val], [f for i, f in enumerate(files) if i in val]


def sample_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square of 1/4 to 3/4 of the shorter side, resized to ``size`` (bicubic)."""
    from PIL import Image

    h, w = image.shape[:2]
    side = int(rng.integers(max(1, min(h, w) // 4), max(2, 3 * min(h, w) // 4) + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return np.asarray(Image.fromarray(image[y : y + side, x : x + side]).resize((size, size), Image.BICUBIC))


def write_crops(photos: list[np.ndarray], n: int, size: int, folder: Path, rng: np.random.Generator) -> None:
    """``n`` random crops of random photos as ``folder/crop-NNNNN.png``."""
    from inpaint.images import save_image

    folder.mkdir(parents=True)
    for i in range(n):
        save_image(folder / f"crop-{i:05d}.png", sample_crop(photos[int(rng.integers(len(photos)))], size, rng))


def validation_pairs(photos: list[np.ndarray], per_photo: int, size: int, seed: int, rng: np.random.Generator) -> list[Pair]:
    """Crops of the validation photos with non-augmented test-category QD-IMD masks (generator seed ``seed``)."""
    from qdimd.masks.generator import MaskConfig, MaskGenerator

    gen = MaskGenerator(MaskConfig(size=(size, size), split="test"), seed=seed)
    crops = [sample_crop(im, size, rng) for im in photos for _ in range(per_photo)]
    return [Pair(crop, np.asarray(gen.generate(i), dtype=bool)) for i, crop in enumerate(crops)]


def hole_l1(output: np.ndarray, target: np.ndarray, hole: np.ndarray) -> float:
    """Mean absolute error over the hole pixels (all channels), % of 255."""
    diff = np.abs(output[hole].astype(np.int16) - target[hole].astype(np.int16))
    return float(diff.mean()) / 255.0 * 100.0 if diff.size else 0.0


def score(fill, pairs: list[Pair]) -> dict[str, float]:
    """Mean hole L1 and PSNR of ``fill(image, hole) -> composite`` over ``pairs``."""
    from inpaint.evaluation.metrics import psnr

    l1s, psnrs = [], []
    for pair in pairs:
        masked = pair.image.copy()
        masked[pair.hole] = 0   # nothing of the hole reaches the method
        out = fill(masked, pair.hole)
        out = np.where(pair.hole[..., None], out, pair.image)
        l1s.append(hole_l1(out, pair.image, pair.hole))
        psnrs.append(psnr(out, pair.image))
    finite = [p for p in psnrs if math.isfinite(p)]
    return {"hole_l1": float(np.mean(l1s)), "psnr": float(np.mean(finite)) if finite else math.inf}


def initial_model(config):
    """The model of step 0, initialised as the training loop does (factory + He init from the seed)."""
    import torch

    from inpaint.nn.models import create_model
    from inpaint.nn.unet import he_init
    from inpaint.training.config import model_kwargs, resolve_config

    config = resolve_config(config)
    model = create_model(config.model, **model_kwargs(config))
    he_init(model, torch.Generator().manual_seed(config.seed))
    return model.eval()


def model_fill(model):
    from inpaint.fill import fill_image

    return lambda image, hole: fill_image(model, image, hole)


def plot_curve(rows: list[dict], baselines: dict[str, dict[str, float]], path: Path, title: str) -> None:
    """Two panels (hole L1, PSNR) against steps, baselines as horizontal lines."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    styles = {"identity (mean fill)": ("tab:gray", "--"), "telea": ("tab:orange", ":")}
    for ax, key, label in zip(axes, ("hole_l1", "psnr"), ("validation hole L1 (% of 255, log scale, lower is better)",
                                                           "validation PSNR (dB, higher is better)")):
        if key == "hole_l1":   # the untrained start is several times the baselines: a log axis keeps both readable
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.plot(steps, [r[key] for r in rows], "o-", color="tab:blue", ms=3, label="PConv (inpaint train)")
        for name, values in baselines.items():
            color, ls = styles.get(name, ("black", "-."))
            ax.axhline(values[key], color=color, ls=ls, label=f"{name}: {values[key]:.2f}")
        ax.set_xlabel("training step (batch 6)")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, default=KODAK, help="folder of photos (default: ../shared kodak24)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "learning_curve.png", help="the figure")
    p.add_argument("--run-dir", type=Path, default=REPO / "out" / "learning_curve", help="run folder (must be new or empty)")
    p.add_argument("--size", type=int, default=128, help="crop side")
    p.add_argument("--width", type=float, default=0.25, help="PConv channel multiplier")
    p.add_argument("--batch-size", type=int, default=6)
    p.add_argument("--minutes", type=float, default=12.0, help="training budget (validation included); stops earlier at --max-steps")
    p.add_argument("--max-steps", type=int, default=5000)
    p.add_argument("--val-every", type=int, default=50, help="steps per segment (a validation after each)")
    p.add_argument("--val-photos", type=int, default=6)
    p.add_argument("--val-crops", type=int, default=8, help="validation crops per validation photo")
    p.add_argument("--train-crops", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a busy shared machine torch's OpenMP threads wait on each other, "
                        "2 threads ran a step 6x slower than 1 here)")
    p.add_argument("--workers", type=int, default=0, help="data loader workers")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from inpaint.evaluation.methods import fill_identity
    from inpaint.fill import fill_classical
    from inpaint.images import find_images, load_image
    from inpaint.checkpoint import load_checkpoint
    from inpaint.training.config import TrainConfig, resolve_config
    from inpaint.training.loop import train

    torch.set_num_threads(args.threads)
    if args.run_dir.exists() and any(args.run_dir.iterdir()):
        raise SystemExit(f"{args.run_dir} is not empty: choose another --run-dir or remove it")
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    files = find_images(args.images)
    train_files, val_files = split_photos(files, args.val_photos, rng)
    write_crops([load_image(f) for f in train_files], args.train_crops, args.size, args.run_dir / "train", rng)
    pairs = validation_pairs([load_image(f) for f in val_files], args.val_crops, args.size, args.seed + 1, rng)
    ratio = float(np.mean([p.hole.mean() for p in pairs]))
    print(f"photos: {len(train_files)} training ({args.train_crops} random crops), {len(val_files)} validation "
          f"({', '.join(f.name for f in val_files)}; {len(pairs)} pairs, mean hole ratio {ratio:.3f}) from {args.images}")
    baselines = {"identity (mean fill)": score(fill_identity, pairs),
                 "telea": score(lambda im, hole: fill_classical(im, hole, "telea"), pairs)}
    for name, values in baselines.items():
        print(f"{name}: hole L1 {values['hole_l1']:.3f} %, PSNR {values['psnr']:.3f} dB")
    config = TrainConfig(
        model="pconv", out=str(args.run_dir / "run"), images=str(args.run_dir / "train"), size=(args.size, args.size),
        width=args.width, max_steps=1, batch_size=args.batch_size, loss_weights=LOSS_WEIGHTS, seed=args.seed,
        checkpoint_every=10**9, log_every=min(10, args.val_every),
        sample_every=10**9, workers=args.workers, device="cpu",
    )
    rows = [{"step": 0, **score(model_fill(initial_model(config)), pairs), "seconds": time.perf_counter() - start}]
    print(f"step {0:5d}: hole L1 {rows[0]['hole_l1']:.3f} %, PSNR {rows[0]['psnr']:.3f} dB (He initialisation)", flush=True)
    budget, step, segment_s = args.minutes * 60.0, 0, 0.0
    while step < args.max_steps and time.perf_counter() - start + segment_s < budget:
        t = time.perf_counter()
        step = min(args.max_steps, step + args.val_every)
        train(replace(config, max_steps=step, resume=(Path(config.out) / "checkpoint.pt").is_file()))
        model, _ = load_checkpoint(Path(config.out) / "checkpoint.pt")
        rows.append({"step": step, **score(model_fill(model), pairs), "seconds": time.perf_counter() - start})
        segment_s = time.perf_counter() - t
        print(f"step {step:5d}: hole L1 {rows[-1]['hole_l1']:.3f} %, PSNR {rows[-1]['psnr']:.3f} dB "
              f"({segment_s:.0f} s for the segment, {rows[-1]['seconds'] / 60:.1f} min in all)", flush=True)
    with open(args.run_dir / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["step", "hole_l1", "psnr", "seconds"])
        writer.writeheader()
        writer.writerows(rows)
    weights = " ".join(f"{w:g}" for w in LOSS_WEIGHTS)
    title = (f"PConv width {args.width} at {args.size} px, batch {args.batch_size}, Adam {resolve_config(config).lr:g}, "
             f"pixel + TV loss only (weights {weights}); {args.threads} CPU thread(s), {rows[-1]['seconds'] / 60:.0f} min\n"
             f"train: {args.train_crops} random crops of {len(train_files)} photos of {args.images.name}; "
             f"validation: {len(pairs)} crops of {len(val_files)} held-out photos, QD-IMD test-category masks "
             f"(mean hole {ratio:.0%})")
    plot_curve(rows, baselines, args.out, title)
    print(f"wrote {args.out}; table {args.run_dir / 'curve.csv'}; {(time.perf_counter() - start) / 60:.1f} min")
    return {"rows": rows, "baselines": baselines, "pairs": len(pairs), "train_photos": len(train_files)}


if __name__ == "__main__":
    main()
