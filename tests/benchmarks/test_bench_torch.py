"""benchmarks.bench_torch and the budgeted ``python -m benchmarks`` (issue 21): they run and print their tables."""
from __future__ import annotations

from benchmarks import __main__ as run_all
from benchmarks import bench_torch


def test_bench_torch_prints_a_row_per_dataset(capsys):
    bench_torch.main(["--sizes", "32", "--workers", "1", "--batch", "4", "--masks", "8", "--rounds", "1", "--kind", "box"])
    out = capsys.readouterr().out
    for name in ("RandomMaskDataset ", "MaskDataset (shuffled)", "MaskFolder (shuffled)", "RandomMaskDataset box"):
        assert name in out
    assert "worker CPU" in out and "load average" in out


def test_the_readme_set_stops_at_its_budget(capsys):
    assert run_all.main(["--budget", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped: the 0 s budget is spent") == len(run_all.README_SET)
    assert "cores" in out.splitlines()[0]
