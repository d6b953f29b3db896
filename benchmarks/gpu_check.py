"""One prepared check of the CUDA code paths (``make gpu-check``): at most 8 minutes on one GPU, one table.

In one run, on ``--device`` (default ``cuda``):

1. forward + backward images/s and peak memory of the full-width PConv UNet at
   256 px (``pconv256``) and 512 px (``pconv512``), batch 6 and 24, fp32 and bf16
   autocast, eager and ``torch.compile`` (model only, an L1 loss on the output);
2. 200 real training steps of ``inpaint train`` (the library's ``train``) on the
   bundled photos (``tests/data/photos``, 128 px, full-width PConv, batch 6, pixel
   and TV terms: no ImageNet VGG-16 weights are assumed), passing when the mean
   loss of the last 50 steps is below that of the first 50;
3. one training step under ``torchrun --nproc-per-node 1`` (NCCL on CUDA);
4. ``precompute_topk`` over 100,000 x 512 float16 vectors on the device, with the
   share of ids that agree with the CPU's float32 search on 500 rows;
5. the training loader's samples/s with all cores as workers (512-px JPEG
   stand-ins of the bundled photos at 256, augmented masks).

Each part is timed against ``--budget`` seconds (default 420); parts that would
not fit are reported as skipped, never silently dropped. Without a CUDA device it
says so and exits with status 0 having measured nothing. ``--dry-run`` runs every
part on the CPU at toy sizes (a smoke test of this script; its figures mean nothing).

Run: ``make gpu-check`` or ``.venv/bin/python -m benchmarks.gpu_check [--dry-run] [--no-compile] [--budget S]``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"
LOSS_WEIGHTS = (1.0, 6.0, 0.0, 0.0, 0.1)


@dataclass(frozen=True)
class Plan:
    """Sizes of every part (the real check or the toy ``--dry-run``)."""

    models: tuple[tuple[str, int], ...]   # (factory, image side)
    batches: tuple[int, ...]
    width: float
    iters: int
    train_steps: int
    train_size: int
    train_width: float
    topk_rows: int
    loader_size: int
    loader_samples: int


REAL = Plan((("pconv256", 256), ("pconv512", 512)), (6, 24), 1.0, 10, 200, 128, 1.0, 100_000, 256, 2000)
DRY = Plan((("pconv", 32), ("pconv", 64)), (2, 3), 0.125, 2, 8, 32, 0.125, 3000, 64, 24)


class Table:
    """Rows of ``(part, setting, result, status)``, printed as one Markdown table at the end."""

    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, part: str, setting: str, result: str, status: str = "ok") -> None:
        self.rows.append((part, setting, result, status))
        print(f"[{part}] {setting}: {result} ({status})", flush=True)

    def render(self) -> str:
        lines = ["| part | setting | result | status |", "|---|---|---|---|"]
        return "\n".join(lines + [f"| {' | '.join(r)} |" for r in self.rows])


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(plan: Plan, device, compile_too: bool, table: Table, deadline: float) -> None:
    """Part 1: forward + backward images/s and peak memory."""
    import torch

    from inpaint.nn.models import create_model

    kinds = [(dtype, compiled) for compiled in ((False, True) if compile_too else (False,)) for dtype in ("fp32", "bf16")]
    for compiled_pass in sorted({c for _, c in kinds}):   # every eager row first: compile time goes last
        for name, side in plan.models:
            for dtype, compiled in [k for k in kinds if k[1] == compiled_pass]:
                for batch in plan.batches:
                    setting = f"{name} {side}px batch {batch} {dtype} {'compiled' if compiled else 'eager'}"
                    if time.perf_counter() > deadline - (120 if compiled else 15):   # a compilation may take 1-2 min
                        table.add("fwd+bwd", setting, "-", "skipped (time budget)")
                        continue
                    kwargs = {"width": plan.width} if name != "pconv" else {"image_size": side, "width": plan.width}
                    model = create_model(name, **kwargs).to(device).to(memory_format=torch.channels_last)
                    run = torch.compile(model) if compiled else model
                    x = torch.randn(batch, 3, side, side, device=device).to(memory_format=torch.channels_last)
                    valid = (torch.rand(batch, 1, side, side, device=device) > 0.3).float()
                    try:
                        if device.type == "cuda":
                            torch.cuda.reset_peak_memory_stats(device)
                        t_first = time.perf_counter()
                        for i in range(plan.iters + 2):   # 2 warm-up iterations (and the compilation)
                            if i == 2:
                                _sync(device)
                                start, first_s = time.perf_counter(), time.perf_counter() - t_first
                            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
                                loss = (run(x * valid, valid).float() - x).abs().mean()
                            loss.backward()
                        _sync(device)
                        ips = plan.iters * batch / (time.perf_counter() - start)
                        peak = (f"peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda"
                                else "peak memory: CUDA only")
                        table.add("fwd+bwd", setting, f"{ips:.1f} images/s, {peak}, warm-up {first_s:.0f} s")
                    except torch.cuda.OutOfMemoryError:
                        table.add("fwd+bwd", setting, "out of memory", "OOM")
                    except Exception as exc:   # e.g. a compiler failure: reported, the other rows still run
                        table.add("fwd+bwd", setting, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}", "FAIL")
                    finally:
                        del model, run
                        if device.type == "cuda":
                            torch.cuda.empty_cache()


def _photos_dir() -> Path:
    """The bundled photos (``tests/data/photos`` of a checkout)."""
    if not PHOTOS.is_dir():
        raise FileNotFoundError(f"{PHOTOS}: the bundled photos are missing (run from a checkout)")
    return PHOTOS


def training(plan: Plan, device, table: Table, tmp: Path) -> None:
    """Part 2: real training steps through the library's entry point; the loss must fall."""
    import csv

    from inpaint.training.config import TrainConfig
    from inpaint.training.loop import train

    out = tmp / "train"
    config = TrainConfig(model="pconv", out=str(out), images=str(_photos_dir()), size=(plan.train_size,) * 2,
                         width=plan.train_width, max_steps=plan.train_steps, loss_weights=LOSS_WEIGHTS,
                         allow_random_vgg=True, vgg_width=0.0625, log_every=1, sample_every=10**9,
                         checkpoint_every=10**9, device=str(device))
    start = time.perf_counter()
    train(config)
    seconds = time.perf_counter() - start
    with open(out / "log.csv", newline="") as f:
        totals = [float(r["total"]) for r in csv.DictReader(f) if r.get("total")]
    q = max(1, len(totals) // 4)
    first, last = float(np.mean(totals[:q])), float(np.mean(totals[-q:]))
    table.add("train", f"{plan.train_steps} steps, pconv {plan.train_size}px width {plan.train_width}, batch 6",
              f"loss {first:.3f} (first {q}) -> {last:.3f} (last {q}), {seconds:.0f} s",
              "ok" if last < first else "FAIL: the loss did not fall")


def torchrun_step(plan: Plan, device, table: Table, tmp: Path) -> None:
    """Part 3: one training step under ``torchrun --nproc-per-node 1`` (NCCL on CUDA, gloo on CPU)."""
    out = tmp / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--master-port", "29517",
           "-m", "qdimd_cli.inpaint_main", "train", "--images", str(_photos_dir()), "--out", str(out),
           "--size", str(plan.train_size), "--width", str(plan.train_width), "--max-steps", "1", "--batch-size", "2",
           "--loss-weights", *map(str, LOSS_WEIGHTS), "--allow-random-vgg", "--vgg-width", "0.0625",
           "--workers", "0", "--device", str(device)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    backend = "nccl" if device.type == "cuda" else "gloo"
    ok = proc.returncode == 0 and (out / "checkpoint.pt").is_file()
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] if not ok else []
    table.add("torchrun", f"1 process, {backend}", f"exit {proc.returncode} in {time.perf_counter() - start:.0f} s",
              "ok" if ok else f"FAIL: {' '.join(tail)[:160]}")


def topk(plan: Plan, device, table: Table) -> None:
    """Part 4: ``precompute_topk`` over the database on the device, checked against the CPU."""
    from inpaint.retrieval.search import precompute_topk, search_exact

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((1000, 512)).astype(np.float32)
    v = centres[rng.integers(1000, size=plan.topk_rows)] + 0.7 * rng.standard_normal((plan.topk_rows, 512), dtype=np.float32)
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16)
    start = time.perf_counter()
    ids = precompute_topk(v, 10, device=device)
    seconds = time.perf_counter() - start
    rows = rng.choice(plan.topk_rows, size=min(500, plan.topk_rows), replace=False)
    _, want = search_exact(v, v[rows].astype(np.float32), 10, exclude=[(int(r),) for r in rows])
    agree = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids[rows], want)]))
    table.add("precompute_topk", f"{plan.topk_rows:,} x 512 float16, k 10",
              f"{seconds:.1f} s ({plan.topk_rows / seconds:,.0f} rows/s), recall@10 vs CPU float32 {agree:.3f}",
              "ok" if agree >= 0.99 else "FAIL: disagrees with the CPU")


def loader(plan: Plan, table: Table, tmp: Path) -> None:
    """Part 5: the training loader with every core as a worker (512-px JPEG stand-ins of the bundled photos)."""
    from benchmarks.bench_loader import dataset, stand_ins, with_workers
    from inpaint.images import find_images
    from inpaint.training.data import InpaintDataset

    folder = tmp / "stand_ins"
    folder.mkdir()
    files = stand_ins(find_images(_photos_dir()), folder)["512-px JPEG"]
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_worker = with_workers(dataset(InpaintDataset, files, plan.loader_size, 0), plan.loader_samples, workers)
    table.add("loader", f"{workers} workers, 512-px JPEG at {plan.loader_size}, augmented masks",
              f"{per_worker * workers:,.0f} samples/s ({per_worker:,.0f} per worker)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N (cpu only with --dry-run)")
    parser.add_argument("--dry-run", action="store_true", help="every part on the CPU at toy sizes (tests this script)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole check")
    args = parser.parse_args(argv)
    import torch

    start = time.perf_counter()
    if args.dry_run:
        device, plan = torch.device("cpu"), DRY
    else:
        device, plan = torch.device(args.device), REAL
        if device.type != "cuda" or not torch.cuda.is_available():
            print(f"gpu-check: no CUDA device here (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
                  "nothing was measured. Run it on a machine with an NVIDIA GPU, or --dry-run for the CPU smoke mode.")
            return 0
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run: toy sizes)"
    print(f"gpu-check on {name}, torch {torch.__version__}, budget {args.budget:.0f} s", flush=True)
    table = Table()
    budget_end = start + args.budget
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        tmp = Path(tmp)
        # the fixed-cost parts first; the throughput grid uses what remains (it skips rows past its share)
        for part, fn in (("train", lambda: training(plan, device, table, tmp)),
                         ("torchrun", lambda: torchrun_step(plan, device, table, tmp)),
                         ("precompute_topk", lambda: topk(plan, device, table)),
                         ("loader", lambda: loader(plan, table, tmp))):
            if time.perf_counter() > budget_end:
                table.add(part, "-", "-", "skipped (time budget)")
                continue
            try:
                fn()
            except Exception as exc:   # one broken part must not hide the others' figures
                table.add(part, "-", f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}", "FAIL")
        throughput(plan, device, not args.no_compile, table, budget_end - 10)
    print(f"\ngpu-check: {time.perf_counter() - start:.0f} s on {name}\n")
    print(table.render())
    failed = [r for r in table.rows if r[3].startswith("FAIL")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
