"""Targeted generation speed: all 12 (bucket, border) groups versus unconstrained masks, one process.

    python -m benchmarks.bench_targeted [--quick] [--size 256] [--n 300] [--rounds 5]

Each figure is masks per second of CPU time of this process (``time.process_time``),
so other load on a shared machine disturbs the ratios less. Every targeted block
is paired with an unconstrained block measured just before it, and the ratio is
the median over rounds of the paired ratios (rates: the best round).
Unconstrained = ``MaskGenerator.generate`` (the ratios use it);
also shown: generate plus measuring the ratio and border distance (what
redraw-until-it-fits pays per try). Targeted = ``TargetedGenerator.generate``
(every mask verified inside). Target: every group at least 1/3 of unconstrained.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from qdimd.buckets import GROUPS, border_distance, bucket_of, default_margin, group_of, hole_ratio
from qdimd.masks.generator import MaskConfig, MaskGenerator
from qdimd.strokes.store import load_default_store
from qdimd.masks.targeted import TargetedGenerator


def _rate(fn, start: int, n: int) -> float:
    t0 = time.process_time()
    for i in range(start, start + n):
        fn(i)
    return n / max(time.process_time() - t0, 1e-9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 masks per block and 3 rounds")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=300, help="masks per block")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    n, rounds = (100, 3) if args.quick else (args.n, args.rounds)
    config = MaskConfig(size=(args.size, args.size))
    store = load_default_store()
    margin = default_margin(args.size, args.size)
    plain = MaskGenerator(config, store, seed=0)

    def measured(i: int) -> None:
        hole = plain.generate(i)
        hole_ratio(hole), border_distance(hole)

    groups = [(b, g) for b in range(1, 7) for g in GROUPS]
    gens = {key: TargetedGenerator.for_group(*key, config=config, store=store, seed=0) for key in groups}
    for gen in gens.values():  # warm up (and check) each generator
        hole = gen.generate(10**6)
        assert gen.accepts(hole)
    best_plain = best_measured = 0.0
    best = {key: 0.0 for key in groups}
    ratios: dict = {key: [] for key in groups}
    for r in range(rounds):
        for key in groups:
            plain_rate = _rate(plain.generate, r * n, n)
            rate = _rate(gens[key].generate, r * n, n)
            best_plain, best[key] = max(best_plain, plain_rate), max(best[key], rate)
            ratios[key].append(rate / plain_rate)
        best_measured = max(best_measured, _rate(measured, r * n, n))
    check = gens[(6, "noborder")].generate(0)
    assert bucket_of(hole_ratio(check)) == 6 and group_of(border_distance(check), margin) == "noborder"
    print(f"size {args.size}, margin {margin} px, blocks of {n} masks x {rounds} rounds; CPU-time rates (best round),"
          " ratio = median over rounds of targeted / the unconstrained block just before")
    print(f"unconstrained MaskGenerator.generate: {best_plain:8.0f} masks/s")
    print(f"  (generate + hole_ratio + border_distance, a redraw try: {best_measured:.0f} masks/s)")
    print(f"{'bucket':>6} {'range':>12} {'group':>9} {'masks/s':>8} {'ratio':>6}")
    worst = 1.0
    for (b, g), rate in best.items():
        lo, hi = gens[(b, g)].ratio_range
        ratio = float(np.median(ratios[(b, g)]))
        worst = min(worst, ratio)
        print(f"{b:>6} {f'({lo:.2f}, {hi:.2f}]':>12} {g:>9} {rate:8.0f} {ratio:6.2f}")
    print(f"worst group / unconstrained: {worst:.2f} (target >= 0.33)")


if __name__ == "__main__":
    main()
