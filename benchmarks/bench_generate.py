"""Mask generation speed: in memory (one process) and end to end (`qdimd generate`), vs a naive baseline.

Run: ``.venv/bin/python -m benchmarks.bench_generate [--quick]``.

Figures, measured side by side in one run:

* masks/s of ``MaskGenerator.batch`` in one process at 256 and 512 (into a reused
  output buffer, and into freshly allocated arrays);
* the same for a naive generator: the obvious implementation, a Python loop of
  cairo ``line_to`` per point and a new anti-aliased surface per mask, thresholded
  (same parameter records, so the same masks up to anti-aliasing);
* wall time of ``qdimd generate --n 50000 --size 256`` with all cores, as PNG files and
  as tar shards (the difference is the file system's cost), and the peak RSS of its
  worker processes.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from qdimd import MaskConfig, MaskGenerator
from qdimd.masks.generator import QD_SIZE


def naive_mask(gen: MaskGenerator, index: int) -> np.ndarray:
    """The obvious implementation: new surface, per-point ``line_to``, threshold."""
    import cairocffi

    params = gen.params(index)
    h, w = gen.config.size
    surface = cairocffi.ImageSurface(cairocffi.FORMAT_A8, w, h)
    ctx = cairocffi.Context(surface)
    ctx.set_line_cap(cairocffi.LINE_CAP_ROUND)
    ctx.set_line_join(cairocffi.LINE_JOIN_ROUND)
    u = params.upscale
    for s, width in zip(params.strokes, params.widths):
        points = gen.store.stroke(s)
        ctx.set_line_width(width * u)
        for j, (x, y) in enumerate(points.tolist()):
            px = w / 2 + ((x + 0.5) * w / QD_SIZE - w / 2) * u
            py = h / 2 + ((y + 0.5) * h / QD_SIZE - h / 2) * u
            if j == 0:
                ctx.move_to(px, py)
            ctx.line_to(px, py)
        ctx.stroke()
    surface.flush()
    data = np.frombuffer(surface.get_data(), np.uint8).reshape(h, surface.get_stride())[:, :w]
    return data > 127


def rate(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


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

    return {"reused": rate(reused, n), "fresh": rate(fresh, n), "naive": rate(naive, max(200, n // 10))}


def end_to_end(n: int, workers: int, fmt: str = "png") -> tuple[float, float]:
    """Wall seconds of ``qdimd generate`` and the peak RSS in MB of any of its processes."""
    import psutil

    folder = tempfile.mkdtemp(prefix="qdimd-bench-")
    out = os.path.join(folder, "masks")
    command = [sys.executable, "-c", "from qdimd_cli.qdimd_main import main; main()", "generate", "--n", str(n),
               "--size", "256", "--out", out, "--workers", str(workers), "--format", fmt]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent, peak = psutil.Process(process.pid), 0.0
    while process.poll() is None:
        try:
            for proc in [parent, *parent.children(recursive=True)]:
                peak = max(peak, proc.memory_info().rss / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"qdimd generate failed with exit code {process.returncode}")
    with open(os.path.join(out, "manifest.csv")) as f:
        count = sum(1 for _ in f) - 1
    shutil.rmtree(folder)
    if count != n:
        raise RuntimeError(f"expected {n} files, got {count}")
    return wall, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a few seconds)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    n256, n512, n_files = (3000, 1000, 5000) if args.quick else (20000, 5000, 50000)
    print(f"qdimd generation benchmark ({'quick' if args.quick else 'full'}; {os.cpu_count()} cores)")
    for size, n in ((256, n256), (512, n512)):
        r = in_memory(size, n)
        print(f"  in memory, 1 process, {size}x{size}: {r['reused']:8.0f} masks/s (reused buffer), "
              f"{r['fresh']:8.0f} masks/s (fresh arrays); naive {r['naive']:6.0f} masks/s; "
              f"speed-up x{r['reused'] / r['naive']:.1f}")
    for fmt in ("png", "tar"):
        wall, peak = end_to_end(n_files, args.workers, fmt)
        print(f"  qdimd generate --n {n_files} --size 256 --workers {args.workers} --format {fmt}: {wall:.1f} s wall "
              f"({n_files / wall:.0f} masks/s), peak RSS per process {peak:.0f} MB")
    print(f"  (load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
