"""The README's speed figures in one budgeted run (``make bench``), or every benchmark in turn.

``python -m benchmarks`` runs :data:`README_SET` (short runs of the benchmarks whose figures the
README quotes, each a ratio measured side by side or an absolute figure with the machine
printed) in subprocesses, and stops a benchmark that would overrun ``--budget`` seconds (570 by
default: ``make bench`` ends within 10 minutes on the 2-core development machine).
``python -m benchmarks --all [--quick]`` runs every ``bench_*`` module in turn, unbudgeted.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import subprocess
import sys
import time
from pathlib import Path

README_SET = [
    ("bench_generate", ["--quick", "--only", "memory"]),
    ("bench_generate", ["--quick", "--only", "process", "--repeat", "3"]),
    ("bench_torch", ["--quick"]),
    ("bench_targeted", ["--quick"]),
    ("bench_index", ["--quick"]),
    ("bench_generate", ["--only", "full", "--repeat", "1"]),
    ("bench_retrieval", ["--quick"]),
    ("bench_eval", ["--quick"]),
    ("bench_models", ["--quick"]),
]
"""``(module, arguments)`` in order: the mask figures first, the models' (minutes on 2 cores) last."""


def machine() -> str:
    """Cores, CPU model, load average, Python and torch versions: the machine every absolute figure is from."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return (f"{os.cpu_count()} cores ({model}), load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}, "
            f"torch {torch_version}")


def run_budgeted(budget: float) -> int:
    start = time.perf_counter()
    print(f"README figures within {budget:.0f} s on {machine()}", flush=True)
    for name, args in README_SET:
        left = budget - (time.perf_counter() - start)
        print(f"\n=== python -m benchmarks.{name} {' '.join(args)} ===", flush=True)
        if left < 10:
            print(f"=== skipped: the {budget:.0f} s budget is spent", flush=True)
            continue
        began = time.perf_counter()
        try:
            subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args], timeout=left, check=False,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})   # lines as they come, also when stopped
            print(f"=== {name}: {time.perf_counter() - began:.1f} s", flush=True)
        except subprocess.TimeoutExpired:
            print(f"=== {name}: stopped at the {budget:.0f} s budget", flush=True)
    print(f"\nall: {time.perf_counter() - start:.1f} s; load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    return 0


def run_all(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    for name in names:
        print(f"\n=== benchmarks.{name} ===", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")   # a module without main() runs on import
        if hasattr(module, "main"):
            module.main(argv)
        print(f"=== {name}: {time.perf_counter() - start:.1f} s", flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=570.0, help="seconds for the README set")
    parser.add_argument("--all", action="store_true", help="every bench_* module in turn (unbudgeted)")
    parser.add_argument("--quick", action="store_true", help="with --all: each benchmark's short run")
    args = parser.parse_args(argv)
    if args.all:
        return run_all(["--quick"] if args.quick else [])
    return run_budgeted(args.budget)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
