"""``benchmarks.gpu_check``: a clear message without CUDA, and every part run on the CPU in --dry-run."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def check(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("benchmarks.gpu_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_cuda_it_says_so_and_exits_cleanly(check, capsys):
    assert check.main([]) == 0
    out = capsys.readouterr().out
    assert "no CUDA device here" in out and "nothing was measured" in out and "|" not in out


@pytest.mark.slow
def test_dry_run_exercises_every_part(check, capsys):
    assert check.main(["--dry-run", "--no-compile"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("| part |"):].splitlines()[2:]
    parts = {line.split(" | ")[0].strip("| ") for line in table}
    assert parts == {"train", "torchrun", "precompute_topk", "loader", "fwd+bwd"}
    assert len([t for t in table if t.startswith("| fwd+bwd")]) == 8
    assert all(line.rstrip().endswith("| ok |") for line in table), out


def test_budget_skips_are_reported(check, capsys):
    table = check.Table()
    check.throughput(check.DRY, torch.device("cpu"), False, table, deadline=0.0)
    assert len(table.rows) == 8 and all(r[3] == "skipped (time budget)" for r in table.rows)
