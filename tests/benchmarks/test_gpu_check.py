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
    with pytest.raises(SystemExit, match="gpu-check: Expected a CUDA device index below 1"):   # a message, no traceback
        check.select_device("cuda:3")


@pytest.mark.slow
def test_dry_run_from_a_plain_checkout_without_optional_packages(tmp_path):
    """``python -m benchmarks.gpu_check --dry-run`` where orjson, isal, cairocffi and the installed ``qdimd_cli`` cannot
    be imported and the checkout is on PYTHONPATH only: what a bare GPU box with its own Python has."""
    env = without_modules_env(tmp_path / "site", ("orjson", "isal", "cairocffi", "qdimd_cli"))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--dry-run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    table = [line for line in out[out.index("| part |"):].splitlines()[2:] if line.startswith("|")]
    assert out.rstrip().endswith("gpu-check done; every row that ran is ok")
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


def test_a_row_that_swallows_exceptions_is_still_stopped(check):
    """The budget's interruption is no ``Exception``: ``except Exception`` in a row (torch.compile wraps a backend's
    errors, a header scan reports unreadable files) neither swallows it nor turns it into a FAIL."""
    import time

    def stubborn():
        for _ in range(2000):
            try:
                time.sleep(0.01)
            except Exception:   # noqa: BLE001 - what library code does
                pass
        pytest.fail("the budget did not stop the row")

    table, budget = check.Table(), check.Budget(0.2)
    with budget.enforced():
        check.run_row(table, budget, "train step", "c", 0, stubborn)
    assert table.rows[-1][3].startswith("stopped (time budget"), table.rows


def test_sigterm_stops_the_row_and_every_later_one(check):
    """``timeout`` sends SIGTERM at 480 s: the row in progress stops and no further row starts, whatever the budget says."""
    import os
    import signal
    import time

    def killed():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            time.sleep(0.01)
        pytest.fail("SIGTERM did not stop the row")

    table, budget = check.Table(), check.Budget(3600)
    with budget.enforced():
        check.run_row(table, budget, "torchrun", "d", 0, killed)
        check.run_row(table, budget, "exact top-k", "e", 1, lambda: pytest.fail("must not start"))
    assert [r[3].split(" (")[0].split(":")[0] for r in table.rows] == ["stopped", "skipped"], table.rows
    assert "SIGTERM" in table.rows[0][3]
    assert budget.left() <= 0 and budget.elapsed() < 600   # the summary line's seconds: time spent, not the budget


def test_out_of_memory_is_a_row_whatever_wraps_it(check):
    table = check.Table()
    budget = check.Budget(60)

    def wrapped():   # what torch.compile's backend error looks like around a CUDA OOM
        raise RuntimeError("backend='inductor' raised:\nCUDA out of memory. Tried to allocate 2.00 GiB")

    def plain():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    check.run_row(table, budget, "train step", "PConv 512, batch 6, fp32, compiled", 1, wrapped)
    check.run_row(table, budget, "train step", "PConv 512, batch 6, fp32, eager", 1, plain)
    assert [r[3] for r in table.rows] == ["OOM", "OOM"]


@pytest.mark.parametrize(("statuses", "code"), [
    ({"eager": "ok", "compiled": "FAIL"}, 0),      # no C compiler for Triton: a finding, not a failed check
    ({"eager": "OOM", "compiled": "skipped (time budget)"}, 1),
    ({"eager": "FAIL", "compiled": "FAIL"}, 1),
    ({"eager": "ok, but 2 host syncs in a step", "compiled": "ok"}, 0),
])
def test_exit_status_fails_only_without_an_eager_step(check, statuses, code):
    table = check.Table()
    table.add("train step", "PConv 256, batch 6, bf16, eager", "-", statuses["eager"])
    table.add("train step", "PConv 256, batch 6, bf16, compiled", "-", statuses["compiled"])
    table.add("torchrun", "1 process, nccl", "exit 1", "FAIL")
    got, line = check.exit_status(table)
    assert got == code and ("FAILED" in line) == bool(code)
    assert "torchrun: 1 process, nccl" in line


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (absent, or a zombie waiting for init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("how", ["timeout", "budget"])
def test_torchrun_is_ended_with_its_workers(check, tmp_path, how):
    """torchrun's workers are its children: a timeout or the budget's stop ends the whole group, no orphan keeps
    the GPU."""
    import time

    from benchmarks.gpu_parts import run_group

    pid_file = tmp_path / "worker.pid"
    script = ("import subprocess, sys, time; "
              "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              f"open({str(pid_file)!r}, 'w').write(str(w.pid)); time.sleep(120)")
    cmd = [sys.executable, "-c", script]
    if how == "timeout":
        code, text = run_group(cmd, 3.0)
        assert code is None and "stopped after 3 s" in text
    else:
        table, budget = check.Table(), check.Budget(3.0)
        with budget.enforced():
            check.run_row(table, budget, "torchrun", "f", 0, lambda: run_group(cmd, 120.0))
        assert table.rows[-1][3].startswith("stopped (time budget"), table.rows
    worker = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while not _gone(worker) and time.monotonic() < deadline:   # SIGKILL is asynchronous: at most a moment
        time.sleep(0.05)
    assert _gone(worker)
