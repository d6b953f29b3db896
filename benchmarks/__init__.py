"""Benchmarks: `python -m benchmarks.<name>`; each prints figures and ratios measured side by side."""
