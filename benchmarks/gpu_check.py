"""One prepared check of the CUDA paths (``make gpu-check``): one table in at most 8 minutes on one GPU.

Runs from a plain checkout with the machine's own Python (a CUDA torch >= 2.1, numpy, pillow,
opencv-python-headless, click, tqdm, scikit-image, scikit-learn): nothing to install, no network;
without ``orjson``, ``isal`` or ``cairocffi`` the project falls back to ``json``, ``zlib`` and
OpenCV. ``make gpu-check`` runs ``PYTHONPATH=. timeout -k 30 480 python3 -m benchmarks.gpu_check``
(SIGTERM at 480 s ends the row in progress and prints the table; SIGKILL 30 s later if anything hangs).

The table (:mod:`benchmarks.gpu_parts` measures):

1. ``train step``: images/s and peak memory of the full training step (the paper's loss with a
   VGG-16 of random weights, backward, gradient norm, fused Adam, EMA: the library's
   :class:`~inpaint.training.step.Stepper`) for PConv 256 at batch 6, PConv 512 at batch 6 and
   Sim-1 256 at batch 12; bf16 autocast and fp32; eager, then ``torch.compile`` while the budget
   lasts; and the host synchronisations inside one step (``torch.cuda.set_sync_debug_mode``);
2. ``loader``: the training loader's samples/s with every core a worker and pinned memory
   (512-px JPEG copies of the bundled photos), against the step's images/s: a verdict row
   (keeps up, or starves the GPU by N %);
3. ``torchrun``: one real ``inpaint train`` step under ``torchrun --nproc-per-node 1`` (NCCL);
4. ``exact top-k``: 16,384 queries over 1,000,000 x 512 float16 vectors on the GPU, checked
   against the CPU's float32 search.

A time budget (``--budget``, default 400 s) orders the work: eager rows, loader, torchrun and
top-k first, compiled rows while time is left; a row that would not fit is listed as skipped
(never silently dropped), and when the budget runs out (or ``timeout`` sends SIGTERM) the row
in progress stops and the table is still printed. Without a CUDA device it says so and exits 0.
``--dry-run`` runs every row's code on the CPU at toy sizes (a test of this script; its figures
mean nothing). Exit status 0 when the table holds a measured eager training step (failed, OOM or
skipped rows are reported in it and in a closing line), 1 when none could be measured.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):   # run as a file: the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    from benchmarks.gpu_parts import Case, exact_topk, loader_rate, photo_stand_ins, time_step, torchrun_step
except ModuleNotFoundError as exc:   # GPU_PYTHON without torch or numpy: say which, not a traceback
    if __name__ != "__main__":
        raise
    sys.exit(f"gpu-check: {sys.executable} cannot import {exc.name}; set GPU_PYTHON to a Python with a CUDA torch")

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"


@dataclass(frozen=True)
class Plan:
    """Sizes and time estimates (seconds) of every row: the real check or the toy ``--dry-run``."""

    cases: tuple[Case, ...]
    width: float = 1.0
    vgg_width: float = 1.0
    steps: int = 15
    warmup: int = 3
    compile_cases: int = 3   # the first cases that get compiled rows
    loader_seconds: float = 12.0
    topk_rows: int = 1_000_000
    topk_queries: int = 16_384
    ddp_size: int = 256
    ddp_width: float = 0.5
    backend: str = "inductor"
    estimates: dict = field(default_factory=lambda: {"eager": 25, "loader": 35, "torchrun": 90, "topk": 60, "compiled": 150})


REAL = Plan((Case("PConv 256", "pconv256", 256, 6), Case("PConv 512", "pconv512", 512, 6),
             Case("Sim-1 256", "sim1", 256, 12, k=1)))
DRY = Plan((Case("PConv 32 (dry)", "pconv", 32, 2), Case("PConv 32 (dry)", "pconv", 32, 3),
            Case("Sim-1 32 (dry)", "sim1", 32, 2, k=1)), width=0.125, vgg_width=0.0625, steps=1, warmup=1, compile_cases=1,
           loader_seconds=0.2, topk_rows=2048, topk_queries=64, ddp_size=32, ddp_width=0.125, backend="eager",
           estimates={"eager": 1, "loader": 1, "torchrun": 1, "topk": 1, "compiled": 1})


class OutOfTime(BaseException):
    """The time budget ran out (or ``timeout`` sent SIGTERM) while a row was running.

    A :class:`BaseException`, like ``KeyboardInterrupt``: code that catches ``Exception`` (torch.compile
    wraps a backend's errors, a header scan reports unreadable files) neither swallows nor rewraps it.
    """


class Budget:
    """Seconds left for the check; :meth:`enforced` interrupts whatever runs when they are spent."""

    REPEAT = 5.0
    """Seconds between further alarms once the budget is spent (should one interruption be swallowed)."""

    def __init__(self, seconds: float, clock=time.monotonic):
        self.clock, self.start = clock, clock()
        self.end = self.start + seconds
        self.armed = False

    def left(self) -> float:
        return self.end - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def fits(self, estimate: float) -> bool:
        return self.left() >= estimate

    def expire(self) -> None:
        """No time left: every later row is skipped."""
        self.end = min(self.end, self.clock())

    @contextlib.contextmanager
    def enforced(self):
        """SIGALRM at the end of the budget (then every :data:`REPEAT` s) and SIGTERM stop the row that runs.

        Both raise :class:`OutOfTime` inside a row (:meth:`row`), never between rows, so the rows left
        are listed as skipped and the table is printed undisturbed; SIGTERM also spends the budget
        (``timeout`` wants the process to end: no further row starts).
        """
        def stop(signum, frame):
            if signum == signal.SIGTERM:
                self.expire()
            if self.armed:   # again every REPEAT s while the row goes on (should code in it swallow one)
                raise OutOfTime(f"stopped by {signal.Signals(signum).name}")

        previous = {s: signal.signal(s, stop) for s in (signal.SIGALRM, signal.SIGTERM)}
        signal.setitimer(signal.ITIMER_REAL, max(self.left(), 0.01), self.REPEAT)
        try:
            yield
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def row(self):
        """The block may be interrupted by :meth:`enforced`'s signals (already when the budget is spent)."""
        self.armed = True
        try:
            if self.left() <= 0:
                raise OutOfTime("stopped: the time budget is spent")
            yield
        finally:
            self.armed = False


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


def run_row(table: Table, budget: Budget, part: str, setting: str, estimate: float, fn):
    """``fn()`` when ``estimate`` seconds fit the budget, else a skipped row; failures become rows, never a crash."""
    import torch

    if not budget.fits(estimate):
        table.add(part, setting, "-", "skipped (time budget)")
        return None
    try:
        with budget.row():
            return fn()
    except OutOfTime as exc:
        table.add(part, setting, "-", f"stopped (time budget: {exc})")
    except Exception as exc:   # a compiler error, a failed subprocess: reported, the other rows still run
        if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():   # compile wraps it
            table.add(part, setting, "out of memory", "OOM")
        else:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            table.add(part, setting, f"{type(exc).__name__}: {first}", "FAIL")
    release_memory()   # the failed row's tensors (held by the traceback until here) back to the device
    return None


def release_memory() -> None:
    """Collect garbage and hand CUDA's cached blocks back (the next row measures its own peak)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def step_rows(plan: Plan, device, table: Table, budget: Budget, loss_fn, compiled: bool) -> dict[str, float]:
    """The training step rows of one pass (eager or compiled); returns the best images/s per case label."""
    import torch

    best: dict[str, float] = {}
    mode = "compiled" if compiled else "eager"
    # eager: case by case; compiled (a minute or two each): every case's bf16 row first, then fp32
    rows = ([(c, b) for b in (True, False) for c in plan.cases[: plan.compile_cases]] if compiled
            else [(c, b) for c in plan.cases for b in (True, False)])
    for case, bf16 in rows:
        setting = f"{case.label}, batch {case.batch}, {'bf16' if bf16 else 'fp32'}, {mode}"

        def row(case=case, bf16=bf16, setting=setting):
            if compiled:
                torch._dynamo.reset()   # a fresh compilation per row (no recompilation limit reached)
            r = time_step(case, device, bf16=bf16, compiled=compiled, loss_fn=loss_fn, width=plan.width,
                          steps=plan.steps, warmup=plan.warmup, backend=plan.backend)
            peak = f"peak {r.peak_gib:.2f} GiB" if r.peak_gib is not None else "peak memory: CUDA only"
            syncs = f"{r.syncs} host syncs/step" if r.syncs is not None else "syncs: CUDA only"
            table.add("train step", setting, f"{r.images_per_s:,.1f} images/s, {peak}, {syncs}, warm-up {r.warmup_s:.0f} s",
                      "ok" if not r.syncs else f"ok, but {r.syncs} host syncs in a step")
            best[case.label] = max(best.get(case.label, 0.0), r.images_per_s)

        run_row(table, budget, "train step", setting, plan.estimates[mode], row)
    return best


def loader_rows(plan: Plan, device, table: Table, budget: Budget, tmp: Path, best: dict[str, float]) -> None:
    """The loader's samples/s per distinct (side, k), each against its case's best step rate."""
    from inpaint.images import find_images

    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(workers, 2) if plan.backend == "eager" else workers   # the dry run stays small
    files: list[Path] = []
    for case in {(c.side, c.k): c for c in plan.cases}.values():
        setting = f"{case.label}, batch {case.batch}, {workers} workers, pinned memory, 512-px JPEG"

        def row(case=case, setting=setting):
            if not files:
                files.extend(photo_stand_ins(find_images(PHOTOS), tmp / "stand_ins"))
            rate = loader_rate(files, case, workers, device, plan.loader_seconds)
            table.add("loader", setting, f"{rate:,.0f} samples/s")
            step = best.get(case.label)
            if step is None:
                table.add("loader vs step", case.label, "no step rate measured", "skipped")
            elif rate >= step:
                table.add("loader vs step", case.label, f"keeps up: {rate:,.0f} vs {step:,.1f} images/s ({rate / step:.1f}x)")
            else:
                table.add("loader vs step", case.label,
                          f"starves the GPU by {100 * (1 - rate / step):.0f}%: {rate:,.0f} vs {step:,.1f} images/s", "ok (slow loader)")

        run_row(table, budget, "loader", setting, plan.estimates["loader"], row)


def select_device(name: str):
    """The CUDA device of ``--device`` (a bare ``cuda`` gets its index), or None without CUDA."""
    import torch

    from inpaint.device import resolve_device

    if not torch.cuda.is_available():
        return None
    try:
        device = resolve_device(name)
    except ValueError as exc:
        raise SystemExit(f"gpu-check: {exc}") from None
    if device.type != "cuda":
        raise SystemExit(f"gpu-check: expected --device cuda or cuda:N, got {name!r} (use --dry-run for the CPU)")
    torch.cuda.set_device(device)
    return device


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument("--dry-run", action="store_true", help="every row on the CPU at toy sizes (tests this script)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--budget", type=float, default=400.0, help="seconds for the whole check (make gpu-check: timeout 480)")
    args = parser.parse_args(argv)
    budget = Budget(args.budget)
    import torch

    if args.dry_run:
        device, plan, name = torch.device("cpu"), DRY, "CPU (dry run: toy sizes, figures mean nothing)"
    else:
        device, plan = select_device(args.device), REAL
        if device is None:
            print(f"gpu-check: no CUDA device here (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
                  "nothing was measured. Run it on a machine with an NVIDIA GPU, or --dry-run for the CPU smoke mode.")
            return 0
        torch.backends.cudnn.benchmark = True
        name = f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}"
    print(f"gpu-check on {name}, torch {torch.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, budget {args.budget:.0f} s", flush=True)
    table = Table()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp, budget.enforced():
        run_all(plan, device, table, budget, Path(tmp), compile_rows=not args.no_compile)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a late SIGTERM must not cut the table short
    try:
        skipped = sum("time budget" in r[3] for r in table.rows)
        print(f"\ngpu-check: {budget.elapsed():.0f} s on {name}"
              + (f"; {skipped} row(s) dropped for the time budget" if skipped else "") + "\n")
        print(table.render(), flush=True)
        code, verdict = exit_status(table)
        print(f"\n{verdict}", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code


def run_all(plan: Plan, device, table: Table, budget: Budget, tmp: Path, compile_rows: bool) -> None:
    """Every row in the budget's order: eager steps, loader, torchrun, top-k, then the compiled steps."""
    from benchmarks.gpu_parts import make_loss

    loss_fn = run_row(table, budget, "train step", "loss (random VGG-16)", 0, lambda: make_loss(device, plan.vgg_width))
    if loss_fn is None:
        return
    best = step_rows(plan, device, table, budget, loss_fn, compiled=False)
    loader_rows(plan, device, table, budget, tmp, best)
    ddp = "1 process, " + ("nccl" if device.type == "cuda" else "gloo")
    run_row(table, budget, "torchrun", ddp, plan.estimates["torchrun"],
            lambda: table.add("torchrun", ddp, *_torchrun(plan, device, tmp, budget)))
    setting = f"{plan.topk_queries:,} queries x {plan.topk_rows:,} x 512 float16, k 10, own row excluded"
    run_row(table, budget, "exact top-k", setting, plan.estimates["topk"],
            lambda: table.add("exact top-k", setting, *_topk(plan, device)))
    if compile_rows:
        step_rows(plan, device, table, budget, loss_fn, compiled=True)
    else:
        table.add("train step", "compiled rows", "-", "skipped (--no-compile)")


def exit_status(table: Table) -> tuple[int, str]:
    """``(exit status, closing line)``: 1 only when no eager training step was measured (the check told nothing).

    A failed compiled row (no C compiler for Triton, say), an OOM, the torchrun or top-k row failing
    are findings the table reports, with exit status 0.
    """
    eager = [r for r in table.rows if r[0] == "train step" and r[1].endswith(", eager")]
    failed = [f"{r[0]}: {r[1]}" for r in table.rows if r[3].startswith(("FAIL", "OOM"))]
    listed = f"; {len(failed)} row(s) failed or ran out of memory (see the table): " + "; ".join(failed) if failed else ""
    if not any(r[3].startswith("ok") for r in eager):
        return 1, "gpu-check FAILED: no eager training step was measured" + listed
    return 0, "gpu-check done" + (listed or "; every row that ran is ok")


def _torchrun(plan: Plan, device, tmp: Path, budget: Budget) -> tuple[str, str]:
    ok, what = torchrun_step(PHOTOS, tmp / "ddp", device, size=plan.ddp_size, width=plan.ddp_width,
                             vgg_width=plan.vgg_width, timeout=max(10.0, min(180.0, budget.left() - 5)))
    return what, "ok" if ok else "FAIL"


def _topk(plan: Plan, device) -> tuple[str, str]:
    r = exact_topk(plan.topk_rows, plan.topk_queries, device)
    rate = plan.topk_queries / r["seconds"]
    return (f"{r['seconds']:.2f} s resident ({r['seconds_first']:.2f} s with the copy to the device), {rate:,.0f} queries/s; "
            f"all {plan.topk_rows:,} rows ~{plan.topk_rows / rate:,.0f} s; recall@10 vs CPU float32 {r['recall']:.3f}",
            "ok" if r["recall"] >= 0.99 else "FAIL: disagrees with the CPU")


if __name__ == "__main__":
    sys.exit(main())
