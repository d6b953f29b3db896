"""``qdimd.torch`` through a plain ``DataLoader``: masks/s per worker against the generator in one process.

Run: ``.venv/bin/python -m benchmarks.bench_torch [--quick] [--sizes 256 512 1024] [--workers W]
[--before REV]``.

For each size and dataset, side by side in one run (rounds alternate, the best round of each
is kept: a shared machine adds noise, never speed):

* reference: ``MaskGenerator.batch`` (for a kind, ``KindGenerator.batch``) in this process,
  masks/s; for :class:`MaskFolder`, also the folder's own files read in this process
  (``MaskFiles.sample``), since decoding a file costs more than drawing a mask;
* ``DataLoader(dataset, batch_size=B, num_workers=W)`` as a user writes it, float32 masks (the
  default): masks/s divided by ``W``, and its ratio to the reference (target >= 0.5);
  ``MaskDataset`` and ``MaskFolder`` shuffled, ``RandomMaskDataset`` as a stream, and
  ``RandomMaskDataset(kind=...)`` for each ``--kind``;
* CPU, read from ``/proc`` (robust to load): "worker CPU" is the reference's CPU seconds per
  mask over a worker's, i.e. the ratio per worker on a machine with a core for each worker and
  one for the main process; "main" is the reference's CPU per mask over the main process's (the
  main process builds the float32 batches from the bits: it keeps up with that many generators).
  On this 2-core machine the wall ratio with 2 workers is about
  ``1 / (1 / worker CPU + 1 / main)``, since the main process shares the cores;
* with ``--before REV``: the same loaders of ``qdimd/torch.py`` at git revision ``REV`` (loaded
  into a temporary module beside today's code; Linux, fork start method).

The loader's batches are fetched, not used: the main process maps each shared-memory batch but
touches no pixel. The script prints the load average: compare ratios, not masks/s, across runs.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from qdimd import MaskConfig
from qdimd.files.folder import MaskFiles
from qdimd.files.writer import write_masks
from qdimd.kinds import create_generator
import qdimd.torch as qtorch

ROOT = Path(__file__).resolve().parents[1]
PIXELS_PER_ROUND = 1 << 26
"""Pixels of masks timed per round and contender (1,024 masks at 256 px, 64 at 1024; at least 4 batches a worker)."""


def load_before(rev: str):
    """``qdimd/torch.py`` at git revision ``rev`` as the module ``qdimd._bench_torch_before``."""
    source = subprocess.run(["git", "show", f"{rev}:qdimd/torch.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    name = "qdimd._bench_torch_before"
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    module.__package__ = "qdimd"
    sys.modules[name] = module
    exec(compile(source, f"{rev}:qdimd/torch.py", "exec"), module.__dict__)
    return module


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes ``pids`` (``/proc``), 0.0 where unreadable."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


class Loader:
    """A plain DataLoader over ``dataset``; :meth:`round` times its steady state over ``n`` masks."""

    def __init__(self, dataset, batch: int, workers: int, shuffle: bool):
        self.dataset, self.batch, self.workers, self.shuffle = dataset, batch, workers, shuffle

    def round(self, n: int) -> tuple[float, float, float]:
        """(masks/s per worker, CPU seconds per mask of the workers, of this process).

        A fresh iterator each round, so that no worker runs ahead (prefetching) while another
        contender is timed. The clock starts when every worker has delivered its first batch (start-up
        excluded; each is then busy with its next) and stops at the last of ``n`` masks.
        """
        workers, steps = max(self.workers, 1), max(2, -(-n // self.batch))
        it = iter(DataLoader(self.dataset, batch_size=self.batch, num_workers=self.workers, shuffle=self.shuffle))
        pids = [w.pid for w in getattr(it, "_workers", [])]
        for _ in range(workers):
            assert next(it).dtype == torch.float32
        workers0, main0, start = cpu_seconds(pids), time.process_time(), time.perf_counter()
        for _ in range(steps):
            next(it)
        wall, main = time.perf_counter() - start, time.process_time() - main0
        worker = cpu_seconds(pids) - workers0
        del it
        masks = steps * self.batch
        return masks / wall / workers, worker / masks, main / masks


def reference_round(fetch, n: int, batch: int) -> tuple[float, float, float]:
    """(masks/s, CPU seconds per mask, 0.0) of ``fetch(start, count)`` in this process."""
    start, cpu0, done = time.perf_counter(), time.process_time(), 0
    while done < n:
        fetch(10_000 + done, batch)
        done += batch
    return done / (time.perf_counter() - start), (time.process_time() - cpu0) / done, 0.0


def folder_reference(files: MaskFiles):
    def fetch(start, count):
        for i in range(start, start + count):
            files.sample(i)
    return fetch


def measure(contenders: dict, rounds: int, n: int) -> dict[str, tuple[float, float, float]]:
    """Best masks/s and lowest CPU seconds per mask (workers or this process; this process) of each
    contender over ``rounds`` alternating rounds."""
    best: dict[str, tuple[float, float, float]] = {}
    for _ in range(rounds):
        for name, run in contenders.items():
            rate, cpu, main = run(n)
            old = best.get(name, (0.0, float("inf"), float("inf")))
            best[name] = (max(old[0], rate), min(old[1], cpu), min(old[2], main))
    return best


def columns(loader: tuple[float, float, float], ref: float, ref_cpu: float) -> str:
    """Masks/s per worker, its ratio to ``ref``, and the worker and main-process CPU ratios."""
    rate, worker, main = loader
    return f"{rate:>17,.0f}{rate / ref:>7.2f}{_ratio(ref_cpu, worker):>12}{_ratio(ref_cpu, main):>7}"


def _ratio(a: float, b: float) -> str:
    """``a / b`` to 2 decimals, or ``-`` where ``b`` was too short to measure (``/proc`` counts 10 ms ticks)."""
    return f"{a / b:.2f}" if b > 0 else "-"


def datasets(module, size: int, kinds: list[str], folder: str, length: int) -> dict:
    """``name -> (dataset, shuffle)`` of one ``qdimd.torch`` module (today's or ``--before``'s)."""
    out = {"RandomMaskDataset": (module.RandomMaskDataset(size=size, seed=0), False),
           "MaskDataset (shuffled)": (module.MaskDataset(length, size=size, seed=0), True),
           "MaskFolder (shuffled)": (module.MaskFolder(folder, size=size, seed=0, length=length), True)}
    for kind in kinds:
        out[f"RandomMaskDataset {kind}"] = (module.RandomMaskDataset(size=size, seed=0, kind=kind), False)
    for dataset, _ in out.values():
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", action="append", default=None, help="also RandomMaskDataset(kind=...) (default: mat)")
    parser.add_argument("--before", metavar="REV", help="also the loaders of qdimd/torch.py at git revision REV")
    parser.add_argument("--masks", type=int, default=None, help="masks per round (default: 2**26 pixels' worth)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of half the masks")
    args = parser.parse_args(argv)
    rounds, scale = (2, 0.5) if args.quick else (args.rounds, 1.0)
    sizes = args.sizes
    kinds = ["mat"] if args.kind is None else args.kind
    before = load_before(args.before) if args.before else None
    torch.set_num_threads(1)
    print(f"qdimd.torch through DataLoader(dataset, batch_size={args.batch}, num_workers={args.workers}), "
          f"float32 masks; {rounds} rounds, best kept; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    print("ratio: the loader's masks/s per worker / the reference's (both wall time, side by side); worker CPU:\n"
          "the reference's CPU per mask / a worker's (the ratio per worker where each worker has a core); main:\n"
          "the reference's CPU per mask / the main process's (how many generators' output the main process takes in)")
    print(f"{'dataset':<28}{'size':>5}{'reference/s':>13}{'loader/s/worker':>17}{'ratio':>7}{'worker CPU':>12}{'main':>7}"
          + (f"{'before/s/worker':>17}{'ratio':>7}{'worker CPU':>12}{'main':>7}{'now/before':>12}" if before else ""))
    for size in sizes:
        n = args.masks or max(4 * args.batch * args.workers, int(scale * PIXELS_PER_ROUND / (size * size)))
        with tempfile.TemporaryDirectory() as tmp:
            write_masks(tmp, MaskConfig(size=(size, size)), n=32, seed=0)
            length = n + 4 * args.batch * args.workers
            now = datasets(qtorch, size, kinds, tmp, length)
            old = datasets(before, size, kinds, tmp, length) if before else {}
            for name, (dataset, shuffle) in now.items():
                kind = name.split(" ", 1)[1] if name.startswith("RandomMaskDataset ") else None
                gen = create_generator(MaskConfig(size=(size, size)), seed=0, kind=kind)
                contenders = {"reference": lambda k, g=gen: reference_round(g.batch, k, args.batch)}
                if name.startswith("MaskFolder"):
                    files = MaskFiles(tmp, size=size, seed=0)
                    contenders["files"] = lambda k, f=files: reference_round(folder_reference(f), k, args.batch)
                contenders["loader"] = Loader(dataset, args.batch, args.workers, shuffle).round
                if name in old:
                    contenders["before"] = Loader(old[name][0], args.batch, args.workers, old[name][1]).round
                best = measure(contenders, rounds, n)
                ref, ref_cpu = best["reference"][:2]
                line = f"{name:<28}{size:>5}{ref:>13,.0f}" + columns(best["loader"], ref, ref_cpu)
                if "before" in best:
                    line += columns(best["before"], ref, ref_cpu) + f"{best['loader'][0] / best['before'][0]:>11.2f}x"
                print(line, flush=True)
                if "files" in best:
                    files, files_cpu = best["files"][:2]
                    print(f"{'  (its files, 1 process)':<28}{size:>5}{files:>13,.0f}" + columns(best["loader"], files, files_cpu),
                          flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
