"""``benchmarks.gpu_check``: a clear message without CUDA, every row on the CPU in --dry-run, the time budget."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import without_modules_env

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


def test_bare_cuda_device_gets_an_index(check, monkeypatch):
    """``--device cuda`` used to reach ``torch.cuda.set_device(torch.device("cuda"))``, which raises."""
    calls = []

    def set_device(device):
        if torch.device(device).index is None:
            raise ValueError("Expected a torch.device with a specified index")
        calls.append(torch.device(device))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    assert check.select_device("cuda") == torch.device("cuda:0") and calls == [torch.device("cuda:0")]


@pytest.mark.slow
def test_dry_run_from_a_plain_checkout_without_optional_packages(tmp_path):
    """``python -m benchmarks.gpu_check --dry-run`` where orjson, isal, cairocffi and the installed ``qdimd_cli`` cannot
    be imported and the checkout is on PYTHONPATH only: what a bare GPU box with its own Python has."""
    env = without_modules_env(tmp_path / "site", ("orjson", "isal", "cairocffi", "qdimd_cli"))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--dry-run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    table = out[out.index("| part |"):].splitlines()[2:]
    parts = [line.split(" | ")[0].strip("| ") for line in table]
    assert set(parts) == {"train step", "loader", "loader vs step", "torchrun", "exact top-k"}
    steps = [line for line in table if line.startswith("| train step")]
    assert len(steps) == 8 and sum(", compiled |" in line for line in steps) == 2   # 3 cases x bf16/fp32 eager, 1 compiled
    assert all(line.rstrip().endswith("| ok |") for line in table), out
    assert "keeps up" in out or "starves the GPU" in out
    assert "orjson is not installed" in proc.stderr   # the fallback really ran


def test_budget_skips_and_stops_are_reported(check, capsys):
    table = check.Table()
    check.run_row(table, check.Budget(0.0), "train step", "a", 5, lambda: pytest.fail("must not run"))
    assert table.rows == [("train step", "a", "-", "skipped (time budget)")]

    def slow():
        import time

        for _ in range(1000):
            time.sleep(0.01)
        pytest.fail("the budget did not stop the row")

    budget = check.Budget(0.2)
    with budget.enforced():
        check.run_row(table, budget, "exact top-k", "b", 0, slow)
    assert table.rows[-1][3].startswith("stopped (time budget")


def test_a_failing_row_does_not_hide_the_others(check):
    table = check.Table()
    check.run_row(table, check.Budget(60), "torchrun", "x", 1, lambda: 1 / 0)
    assert table.rows[0][3] == "FAIL" and "ZeroDivisionError" in table.rows[0][2]
