"""Mask generation speed: in memory (one process) and end to end (`qdimd generate`), vs a naive baseline.

Run: ``.venv/bin/python -m benchmarks.bench_generate [--quick] [--repeat R] [--dir DIR]``.

Figures, measured side by side in one run (whole-process runs alternate, R times each):

* masks per CPU second of ``MaskGenerator.batch`` in one process at 256 and 512 (into a reused
  output buffer, and into freshly allocated arrays; 3 alternating rounds, the best kept), and of a
  naive generator: the
  obvious implementation, a new anti-aliased cairo surface per mask and one Python
  ``line_to`` call per point, thresholded (same parameter records and stroke
  coordinates, so the same masks up to anti-aliasing);
* whole process, one core: ``qdimd generate --n N --size 256 --workers 1`` against the
  naive program (:func:`naive_main`: the naive renderer, ``cv2.imwrite`` of each 8-bit
  mask, a ``csv`` manifest of index, file, hole ratio, border distance and the record),
  both writing N PNG files: wall and CPU seconds of the whole process (start-up
  included) and their ratio;
* ``qdimd generate --n 50000 --size 256`` with ``--workers W`` (all cores by default), as
  PNG files and as tar shards (the difference is the file system's cost), and the peak
  RSS of the largest process.

Figures depend on the machine and its load: the script prints the load average. Outputs are
kept until the end (see :func:`measure`); ``--delete-between`` deletes each right after its run.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from qdimd import MaskConfig, MaskGenerator
from qdimd.buckets import border_distance
from qdimd.masks.generator import stroke_geometry


def naive_mask(gen: MaskGenerator, index: int) -> np.ndarray:
    """The obvious implementation: new surface, one ``line_to`` per point, threshold."""
    import cairocffi

    params = gen.params(index)
    h, w = gen.config.size
    points, counts, widths, _ = stroke_geometry([params], gen.config, gen.store)
    surface = cairocffi.ImageSurface(cairocffi.FORMAT_A8, w, h)
    ctx = cairocffi.Context(surface)
    ctx.set_line_cap(cairocffi.LINE_CAP_ROUND)
    ctx.set_line_join(cairocffi.LINE_JOIN_ROUND)
    start = 0
    for count, width in zip(counts.tolist(), widths.tolist()):
        ctx.set_line_width(width)
        for j, (x, y) in enumerate(points[start:start + count].tolist()):
            if j == 0:
                ctx.move_to(x, y)
            ctx.line_to(x, y)
        ctx.stroke()
        start += count
    surface.flush()
    data = np.frombuffer(surface.get_data(), np.uint8).reshape(h, surface.get_stride())[:, :w]
    return data > 127


def naive_main(n: int, out: str, size: int = 256) -> None:
    """The naive whole program: ``n`` masks as 8-bit PNG files and a CSV manifest in ``out``."""
    import cv2
    import orjson

    os.makedirs(out, exist_ok=True)
    gen = MaskGenerator(MaskConfig(size=(size, size)), seed=0)
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "file", "hole_ratio", "border_distance", "params"])
        for i in range(n):
            hole = naive_mask(gen, i)
            name = f"{i:08d}.png"
            cv2.imwrite(os.path.join(out, name), hole.astype(np.uint8) * 255)
            writer.writerow([i, name, repr(float(hole.mean())), border_distance(hole),
                             orjson.dumps(gen.params(i).to_dict()).decode()])


def rate(fn, n: int, clock=time.perf_counter) -> float:
    start = clock()
    fn(n)
    return n / (clock() - start)


def in_memory(size: int, n: int) -> dict[str, float]:
    gen = MaskGenerator(MaskConfig(size=(size, size)), seed=0)
    gen.batch(0, 64)  # warm up

    def reused(count):
        buffer = np.empty((256, size, size), dtype=bool)
        for start in range(0, count, 256):
            gen.batch(start, min(256, count - start), out=buffer[: min(256, count - start)])

    def fresh(count):
        for start in range(0, count, 256):
            gen.batch(start, min(256, count - start))

    def naive(count):
        for i in range(count):
            naive_mask(gen, i)

    # CPU time of this one-threaded process, rounds alternating, the best kept: robust to other jobs
    best = {"reused": 0.0, "fresh": 0.0, "naive": 0.0}
    for _ in range(3):
        for name, fn, count in (("reused", reused, n // 3), ("fresh", fresh, n // 3), ("naive", naive, max(100, n // 30))):
            best[name] = max(best[name], rate(fn, count, time.process_time))
    return best


def run_process(command: list[str], out: str, n: int) -> dict[str, float]:
    """Run ``command`` (which writes ``n`` masks and ``out/manifest.csv``) to completion.

    Returns:
        ``wall`` and ``cpu`` (user + system, the process and the children it waited for) seconds,
        and ``rss`` (MB, peak of its largest process).
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed with exit code {process.returncode}")
    with open(os.path.join(out, "manifest.csv")) as f:
        count = sum(1 for _ in f) - 1
    if count != n:
        raise RuntimeError(f"expected {n} manifest rows in {out}, got {count}")
    children = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": max(usage.ru_maxrss, children.ru_maxrss) / 1024}


def generate_command(n: int, out: str, workers: int, fmt: str = "png") -> list[str]:
    return [sys.executable, "-c", "from qdimd_cli.qdimd_main import main; main()", "generate", "--n", str(n),
            "--size", "256", "--out", out, "--workers", str(workers), "--format", fmt]


def naive_command(n: int, out: str) -> list[str]:
    return [sys.executable, "-c", f"from benchmarks.bench_generate import naive_main; naive_main({n}, {out!r})"]


def measure(commands: dict[str, "callable"], n: int, repeat: int, folder: str | None,
            keep: list[str], delete_between: bool = False) -> dict[str, list[dict]]:
    """Run each ``commands[name](out)`` ``repeat`` times, alternating names; a fresh folder each time.

    The folders are appended to ``keep`` and deleted when the benchmark ends: ext4 spends many
    times longer creating each file for about 30 s after many files were deleted (its inode
    allocator skips recently deleted inodes), which would time the previous run's clean-up.
    ``delete_between`` times that case instead: each folder is deleted right after its run.
    """
    results: dict[str, list[dict]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            keep.append(tempfile.mkdtemp(prefix="qdimd-bench-", dir=folder))
            out = os.path.join(keep[-1], "masks")
            results[name].append(run_process(command(out), out, n))
            if delete_between:
                shutil.rmtree(keep.pop())
    return results


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a few seconds)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers of the 50,000-mask runs")
    parser.add_argument("--repeat", type=int, default=3, help="whole-process runs of each program (medians printed)")
    parser.add_argument("--dir", default=None, help="folder for the output (default: the system's temporary folder)")
    parser.add_argument("--only", choices=["memory", "process", "full"], default=None, help="run one part only")
    parser.add_argument("--delete-between", action="store_true",
                        help="delete each run's files right after it (times ext4 right after a mass deletion)")
    args = parser.parse_args(argv)
    keep: list[str] = []
    try:
        run_parts(args, keep)
    finally:
        for tmp in keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run_parts(args: argparse.Namespace, keep: list[str]) -> None:
    n256, n512, n_one, n_files = (3000, 1000, 2000, 5000) if args.quick else (20000, 5000, 6000, 50000)
    print(f"qdimd generation benchmark ({'quick' if args.quick else 'full'}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}"
          f"{'; each run deleted right after it' if args.delete_between else ''})")
    if args.only in (None, "memory"):
        for size, n in ((256, n256), (512, n512)):
            r = in_memory(size, n)
            print(f"  in memory, 1 process, {size}x{size}, masks per CPU second: {r['reused']:8.0f} (reused buffer), "
                  f"{r['fresh']:8.0f} (fresh arrays); naive {r['naive']:6.0f}; "
                  f"speed-up x{r['reused'] / r['naive']:.1f}")
    if args.only in (None, "process"):
        runs = measure({"qdimd": lambda out: generate_command(n_one, out, 1),
                        "naive": lambda out: naive_command(n_one, out)}, n_one, args.repeat, args.dir,
                       keep, args.delete_between)
        for name, label in (("qdimd", f"qdimd generate --n {n_one} --size 256 --workers 1"),
                            ("naive", f"naive program, {n_one} masks at 256")):
            walls = ", ".join(f"{r['wall']:.2f}" for r in runs[name])
            print(f"  {label}: {median(runs[name], 'wall'):.2f} s wall (runs: {walls}), "
                  f"{median(runs[name], 'cpu'):.2f} s CPU")
        print(f"  whole process, PNG files, 1 worker: qdimd x{median(runs['naive'], 'wall') / median(runs['qdimd'], 'wall'):.2f} "
              f"the naive program's speed (wall), x{median(runs['naive'], 'cpu') / median(runs['qdimd'], 'cpu'):.2f} (CPU)")
    if args.only in (None, "full"):
        for fmt in ("png", "tar"):
            runs = measure({fmt: lambda out, fmt=fmt: generate_command(n_files, out, args.workers, fmt)},
                           n_files, args.repeat, args.dir, keep, args.delete_between)[fmt]
            walls = ", ".join(f"{r['wall']:.1f}" for r in runs)
            print(f"  qdimd generate --n {n_files} --size 256 --workers {args.workers} --format {fmt}: "
                  f"{median(runs, 'wall'):.1f} s wall (runs: {walls}; {n_files / median(runs, 'wall'):.0f} masks/s), "
                  f"{median(runs, 'cpu'):.1f} s CPU, peak RSS {max(r['rss'] for r in runs):.0f} MB")
    print(f"  (load average after measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
