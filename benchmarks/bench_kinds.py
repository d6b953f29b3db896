"""Mask kinds versus the original generators: fidelity and speed, side by side in one process.

    python -m benchmarks.bench_kinds --originals DIR [--n 1500] [--kinds lama-thin,mat] [--sizes 256,512]
                                     [--markdown FILE] [--quick]

``DIR`` holds runnable transcriptions of the originals' mask functions (not part of qdimd:
LaMa, MAT, CoModGAN and DeepFill v2 are under their own licences; see docs/mask-kinds.md for
what to put there): Python modules each with a dict ``ORIGINALS = {name: fn(H, W) -> (H, W) bool
hole}`` drawing from numpy's global RNG (seeded here with ``np.random.seed``).

Per kind and size, ``--n`` masks of ours (seed 0, indices 0..n-1) and of the original:

* fidelity: the two-sample Kolmogorov-Smirnov distance of the hole-ratio distributions
  (target <= 0.05) and the relative differences of the medians of hole ratio, connected
  components (8-connected) and thickness (2 x the median distance of a hole pixel to the
  nearest known pixel, per mask; target: each within 5%);
* noise floor: the same figures between the original and itself with another seed (``--n``
  more of its masks, not timed): what sampling alone moves (the 95% critical KS value for two
  samples of 1,500 is 1.36 * sqrt(2 / 1500) = 0.050, and a median of integer component counts
  sitting between two integers flips between them);
* speed: ms of CPU time (``time.process_time``) per mask, ours and the original's, measured in
  alternating blocks of 50 so that machine load hits both alike; target: ours >= 3x faster.
  Ours is :meth:`qdimd.kinds.KindGenerator.batch` (the per-mask generator, sampling and
  rendering), the original is its function as transcribed (for LaMa's test kinds this
  includes ``gen_mask_dataset.py``'s 5 variants per kept mask).

Without ``--originals`` (e.g. under ``python -m benchmarks``) it prints how to run it and exits.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from qdimd.kinds import KindGenerator
from qdimd.masks.params import MaskConfig

# (our kind spec, the original's name, sizes): LaMa's training mix exists at 256 only.
CASES = (
    ("lama-thin", "lama-thin", (256, 512)),
    ("lama-medium", "lama-medium", (256, 512)),
    ("lama-thick", "lama-thick", (256, 512)),
    ("lama-train", "lama-train", (256,)),
    ("mat", "mat", (256, 512)),
    ("mat[variant=512-small]", "mat-512-small", (512,)),
    ("mat[variant=256-small]", "mat-256-small", (256,)),
    ("mat[hole_range=0.3..0.5]", "mat-hole-0.3-0.5", (512,)),
    ("comodgan", "comodgan", (256, 512)),
    ("deepfill", "deepfill", (256, 512)),
)
BLOCK = 50
KS_MAX, MEDIAN_TOLERANCE, SPEEDUP_MIN = 0.05, 0.05, 3.0


def load_originals(folder: Path) -> dict:
    """``{name: fn(H, W)}`` from every ``*.py`` in ``folder`` that defines ``ORIGINALS``."""
    sys.path.insert(0, str(folder))
    found = {}
    for path in sorted(folder.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_originals_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update(getattr(module, "ORIGINALS", {}))
    if "mat" in found and "mat-hole-0.3-0.5" not in found:
        found["mat-hole-0.3-0.5"] = lambda h, w: found["mat"](h, w, hole_range=(0.3, 0.5))
    return found


def mask_stats(hole: np.ndarray) -> tuple[float, int, float]:
    """``(hole ratio, 8-connected components, thickness)``; thickness is NaN for an empty mask."""
    hole8 = hole.view(np.uint8) if hole.dtype == np.bool_ else hole.astype(np.uint8)
    count = int(np.count_nonzero(hole8))
    if count == 0:
        return 0.0, 0, float("nan")
    components = cv2.connectedComponents(hole8, connectivity=8)[0] - 1
    # Distance of each hole pixel to the nearest known one; the image border counts as known.
    padded = cv2.copyMakeBorder(hole8, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return count / hole.size, components, 2.0 * float(np.median(distance[hole8 != 0]))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                               - np.searchsorted(b, grid, side="right") / len(b))))


def run_case(spec: str, original, size: int, n: int, seed: int = 0) -> dict:
    """Generate ``n`` masks of each side by side; returns the figures of one table row."""
    gen = KindGenerator(spec, MaskConfig(size=(size, size)), seed=seed)
    np.random.seed(seed)
    ours, theirs = [], []
    t_ours = t_theirs = 0.0
    out = np.empty((BLOCK, size, size), dtype=bool)
    for start in range(0, n, BLOCK):
        count = min(BLOCK, n - start)
        t0 = time.process_time()
        holes = gen.batch(start, count, out=out[:count])
        t_ours += time.process_time() - t0
        ours.extend(mask_stats(h) for h in holes)
        t0 = time.process_time()
        originals = [original(size, size) for _ in range(count)]
        t_theirs += time.process_time() - t0
        theirs.extend(mask_stats(np.ascontiguousarray(h, dtype=bool)) for h in originals)
    np.random.seed(seed + 1)
    again = np.array([mask_stats(np.ascontiguousarray(original(size, size), dtype=bool)) for _ in range(n)])
    a, b = np.array(ours), np.array(theirs)
    row = {"kind": spec, "size": size, "n": n, "ks": ks_distance(a[:, 0], b[:, 0]), "ks_noise": ks_distance(again[:, 0], b[:, 0]),
           "ms_ours": 1e3 * t_ours / n, "ms_orig": 1e3 * t_theirs / n, "mean_components": (a[:, 1].mean(), b[:, 1].mean())}
    for k, name in enumerate(("ratio", "components", "thickness")):
        mine, other, noise = np.nanmedian(a[:, k]), np.nanmedian(b[:, k]), np.nanmedian(again[:, k])
        row[name] = (float(mine), float(other))
        row[f"{name}_diff"] = abs(mine - other) / other if other else float(mine != other)
        row[f"{name}_noise"] = abs(noise - other) / other if other else float(noise != other)
    row["speedup"] = row["ms_orig"] / max(row["ms_ours"], 1e-9)
    row["ok"] = (row["ks"] <= KS_MAX and all(row[f"{m}_diff"] <= MEDIAN_TOLERANCE for m in ("ratio", "components", "thickness"))
                 and row["speedup"] >= SPEEDUP_MIN)
    return row


def format_table(rows: list[dict]) -> str:
    """The markdown table of :func:`run_case` rows."""
    lines = ["| kind | size | KS (noise) | median ratio ours / orig (noise) | median components (means) "
             "| median thickness px (noise) | ms per mask ours / orig | speed-up | pass |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| `{r['kind']}` | {r['size']} | {r['ks']:.3f} ({r['ks_noise']:.3f}) "
            f"| {r['ratio'][0]:.3f} / {r['ratio'][1]:.3f} ({100 * r['ratio_noise']:.1f}%) "
            f"| {r['components'][0]:g} / {r['components'][1]:g} ({r['mean_components'][0]:.2f} / {r['mean_components'][1]:.2f}) "
            f"| {r['thickness'][0]:.1f} / {r['thickness'][1]:.1f} ({100 * r['thickness_noise']:.1f}%) "
            f"| {r['ms_ours']:.3f} / {r['ms_orig']:.3f} | {r['speedup']:.1f}x | {'yes' if r['ok'] else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=Path, default=None, help="folder of the originals' transcriptions")
    parser.add_argument("--n", type=int, default=1500, help="masks per kind and size, each side")
    parser.add_argument("--kinds", default=None, help="comma-separated kind specs of CASES to run (default: all)")
    parser.add_argument("--sizes", default=None, help="comma-separated sizes to keep, e.g. 256")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    parser.add_argument("--quick", action="store_true", help="200 masks per cell")
    args, _ = parser.parse_known_args(argv)
    if args.originals is None:
        print("bench_kinds: skipped (needs --originals DIR with the original generators; see its docstring)")
        return
    originals = load_originals(args.originals)
    wanted = None if args.kinds is None else set(args.kinds.split(","))
    sizes = None if args.sizes is None else {int(s) for s in args.sizes.split(",")}
    n = 200 if args.quick else args.n
    rows = []
    for spec, name, case_sizes in CASES:
        if (wanted is not None and spec not in wanted) or name not in originals:
            continue
        for size in case_sizes:
            if sizes is not None and size not in sizes:
                continue
            row = run_case(spec, originals[name], size, n)
            rows.append(row)
            print(format_table([row]).splitlines()[-1], flush=True)
    table = format_table(rows)
    print("\n" + table)
    failed = [f"{r['kind']}@{r['size']}" for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} cells meet KS <= {KS_MAX}, medians within "
          f"{MEDIAN_TOLERANCE:.0%} and speed-up >= {SPEEDUP_MIN:g}x" + (f"; not: {', '.join(failed)}" if failed else ""))
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
