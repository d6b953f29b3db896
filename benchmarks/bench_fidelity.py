"""Fidelity of targeted masks (``qdimd bucket``) against natural QD-IMD masks and NVIDIA's test masks.

    python -m benchmarks.bench_fidelity [--size 256] [--per-cell 30] [--natural 20000] [--quadrants 3000]
        [--nvidia DIR] [--sheet docs/bucket_sheet.png]

Per (bucket, group) cell it prints the median local thickness of targeted masks, of
natural masks (plain :class:`~qdimd.masks.generator.MaskGenerator` masks of seed 1 that
land in the same bucket on their own, any group) and of NVIDIA's sample of the cell
(``../shared/data/masks/nvidia_sample``: file ``NNNNN`` is bucket ``NNNNN // 2000 + 1``,
noborder when ``NNNNN % 2000 < 1000``; resized with area averaging to ``--size``), the
ratios against the targets of issue 12 (targeted / natural in [0.75, 1.3]; noborder at most
1.3x the larger of natural and NVIDIA), and for noborder cells how many masks are cut
flat at the inner box (a run of at least ``FLAT_RUN`` hole px along the frame line ``margin`` px
from an edge). Thickness of a mask: ``2 x`` the median, over its hole pixels, of the
distance to the nearest known pixel (``cv2.distanceTransform``, L2).

Also prints the hole density of the four quadrants of plain masks (seed 0), max / min, and with
``--sheet`` draws a contact sheet with one row per cell (its first 8 targeted masks).
"""
from __future__ import annotations

import argparse
import glob
import os
import time

import cv2
import numpy as np

try:
    from qdimd.masks.generator import MaskConfig, MaskGenerator
    from qdimd.masks.targeted import TargetedGenerator
    from qdimd.strokes.store import load_default_store
except ImportError:  # the layout before issue 10
    from qdimd.generator import MaskConfig, MaskGenerator
    from qdimd.targeted import TargetedGenerator
    from qdimd.store import load_default_store
from qdimd.buckets import GROUPS, border_distance, bucket_of, default_margin, hole_ratio

NVIDIA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "masks", "nvidia_sample")
FLAT_RUN_AT_512 = 8
"""Hole px in a row along the frame line (at 512; scaled with the size) that count as a flat cut."""


def thickness(hole: np.ndarray) -> float:
    """``2 x`` the median distance from a hole pixel to the nearest known pixel (0 for an empty mask)."""
    if not hole.any():
        return 0.0
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
    return 2.0 * float(np.median(dist[hole]))


def _longest_run(line: np.ndarray) -> int:
    if not line.any():
        return 0
    padded = np.concatenate([[0], line.astype(np.int8), [0]])
    d = np.diff(padded)
    return int((np.flatnonzero(d == -1) - np.flatnonzero(d == 1)).max())


def cut_flat(hole: np.ndarray, margin: int, run: int) -> bool:
    """Whether a run of ``run`` hole px lies on the frame line ``margin`` px from some edge."""
    h, w = hole.shape
    lines = (hole[margin], hole[h - 1 - margin], hole[:, margin], hole[:, w - 1 - margin])
    return any(_longest_run(v) >= run for v in lines)


def nvidia_cells(folder: str, size: int) -> dict:
    cells: dict = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.png"))):
        n = int(os.path.basename(path)[:5])
        hole = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if hole.shape != (size, size):
            hole = cv2.resize(hole, (size, size), interpolation=cv2.INTER_AREA)
        cells.setdefault((n // 2000 + 1, GROUPS[0] if n % 2000 < 1000 else GROUPS[1]), []).append(hole > 127)
    return cells


def quadrant_densities(size: int, n: int, store) -> list[float]:
    gen = MaskGenerator(MaskConfig(size=(size, size)), store, seed=0)
    acc = np.zeros((size, size), np.float64)
    for start in range(0, n, 250):
        acc += gen.batch(start, min(250, n - start)).sum(axis=0)
    h = size // 2
    return [float(acc[a, b].mean() / n) for a, b in ((np.s_[:h], np.s_[:h]), (np.s_[:h], np.s_[h:]),
                                                        (np.s_[h:], np.s_[:h]), (np.s_[h:], np.s_[h:]))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--per-cell", type=int, default=30)
    parser.add_argument("--natural", type=int, default=20000, help="plain masks binned into buckets")
    parser.add_argument("--quadrants", type=int, default=0, help="plain masks for the quadrant densities (0: skip)")
    parser.add_argument("--nvidia", default=NVIDIA)
    parser.add_argument("--sheet", default=None, help="write a contact sheet (one row per cell) to this PNG")
    args = parser.parse_args(argv)
    size, store = args.size, load_default_store()
    config = MaskConfig(size=(size, size))
    margin = default_margin(size, size)
    t0 = time.time()
    if args.quadrants:
        q = quadrant_densities(size, args.quadrants, store)
        print(f"quadrant hole density over {args.quadrants} plain masks at {size} (seed 0): TL {q[0]:.3f} TR {q[1]:.3f}"
              f" BL {q[2]:.3f} BR {q[3]:.3f}; max/min {max(q) / min(q):.2f} (target <= 1.10)")
    natural: dict = {}
    natural_cell: dict = {}
    plain = MaskGenerator(config, store, seed=1)
    for start in range(0, args.natural, 250):
        for hole in plain.batch(start, min(250, args.natural - start)):
            b = bucket_of(hole_ratio(hole))
            if b:
                t = thickness(hole)
                natural.setdefault(b, []).append(t)
                g = GROUPS[0] if border_distance(hole) >= margin else GROUPS[1]
                natural_cell.setdefault((b, g), []).append(t)
    nvidia = nvidia_cells(args.nvidia, size) if os.path.isdir(args.nvidia) else {}
    run = max(2, round(FLAT_RUN_AT_512 * size / 512))
    print(f"size {size}, margin {margin} px, {args.per_cell} targeted masks per cell (seed 0), natural: {args.natural}"
          f" plain masks (seed 1); median thickness in px; flat = cut flat at the frame (run >= {run} px)")
    print(f"{'bucket':>6} {'group':>9} {'target':>7} {'natural':>8} {'(n)':>6} {'cell nat':>8} {'nvidia':>7}"
          f" {'t/nat':>6} {'t/max':>6} {'flat':>7} {'nv flat':>7}")
    worst_lo, worst_hi = 10.0, 0.0  # over cells: targeted / natural, and the ratio against the upper bound
    sheet, labels = [], []
    for b in range(1, 7):
        for g in GROUPS:
            gen = TargetedGenerator.for_group(b, g, config, store, seed=0)
            holes = [gen.generate(i) for i in range(args.per_cell)]
            sheet += holes[:8]
            labels += [f"{b} {g} {hole_ratio(h):.2f}" for h in holes[:8]]
            t = float(np.median([thickness(h) for h in holes]))
            nat = float(np.median(natural[b])) if b in natural else float("nan")
            nat_cell = natural_cell.get((b, g), [])
            nat_c = f"{np.median(nat_cell):8.1f}" if len(nat_cell) >= 5 else f"{'-':>8}"
            nv = nvidia.get((b, g), [])
            nv_t = float(np.median([thickness(h) for h in nv])) if nv else float("nan")
            ratio = t / nat
            upper = ratio
            vs_max, flat, nv_flat = "", "", ""
            if g == GROUPS[0]:
                upper = t / max(nat, nv_t if nv else 0.0)
                vs_max = f"{upper:6.2f}"
                flat = f"{sum(cut_flat(h, margin, run) for h in holes)}/{len(holes)}"
                nv_flat = f"{sum(cut_flat(h, margin, run) for h in nv)}/{len(nv)}" if nv else "-"
            worst_lo, worst_hi = min(worst_lo, ratio), max(worst_hi, upper)
            print(f"{b:>6} {g:>9} {t:7.1f} {nat:8.1f} {len(natural.get(b, [])):>6} {nat_c} {nv_t:7.1f} {ratio:6.2f}"
                  f" {vs_max:>6} {flat:>7} {nv_flat:>7}")
    verdict = "met" if 0.75 <= worst_lo and worst_hi <= 1.3 else "NOT met"
    print(f"lowest targeted / natural {worst_lo:.2f} (target >= 0.75); highest targeted / natural (border) or /"
          f" max(natural, NVIDIA) (noborder) {worst_hi:.2f} (target <= 1.30): {verdict}; {time.time() - t0:.0f} s")
    if args.sheet:
        from qdimd.files.preview import render_contact_sheet

        render_contact_sheet(sheet, labels, columns=8, cell=96).save(args.sheet)
        print(f"sheet: {args.sheet}")


if __name__ == "__main__":
    main()
