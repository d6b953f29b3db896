"""Which cells of the report a per-image row counts in: the papers' buckets (N, B and both) or LaMa's 10% area bins.

``paper`` (default): the split's hole-ratio bucket (1-6, edges
:data:`qdimd.buckets.DEFAULT_EDGES`) crossed with the border group
(``noborder`` = N, ``border`` = B), plus the merged group ``all`` of each
bucket (Iskakov 2018's Table 1 has one column per bucket).

``lama``: the hole area at the evaluation size (the share of hole pixels) in
ten bins ``0-10%`` ... ``90-100%``, as LaMa's ``InpaintingEvaluator``
(``saicinpainting/evaluation/evaluator.py``): edges ``linspace(0, 1, 11)``,
bin ``searchsorted(edges, area, side="right") - 1`` (lower edge included,
upper excluded) with an area of exactly 1 put in the last bin; the float
edges included, so areas of exactly 0.3, 0.6 and 0.7 (edges
0.30000000000000004, 0.6000000000000001, 0.7000000000000001) fall in the
bin below, as in LaMa. LaMa has no
border split, so each bin has the single group ``all``.

Both add the overall cell ``(all, all)`` of every method.
"""
from __future__ import annotations

import re

import numpy as np

from qdimd.buckets import DEFAULT_EDGES, GROUPS

ALL = "all"
LAMA_BINS = 10
LAMA_EDGES = np.linspace(0.0, 1.0, LAMA_BINS + 1)
LAMA_LABELS = tuple(f"{10 * i}-{10 * (i + 1)}%" for i in range(LAMA_BINS))
N_BUCKETS = len(DEFAULT_EDGES) - 1


def lama_bin(area: float) -> str:
    """LaMa's area bin label of a hole share in ``[0, 1]``, e.g. ``0.25 -> "20-30%"``, ``0.1 -> "10-20%"``."""
    if not 0.0 <= area <= 1.0:
        raise ValueError(f"Expected a hole area in [0, 1], got {area}")
    index = int(np.searchsorted(LAMA_EDGES, area, side="right")) - 1
    return LAMA_LABELS[min(index, LAMA_BINS - 1)]


def cells_of(bucket: int, group: str, hole: float, bins: str = "paper") -> list[tuple[str, str]]:
    """The ``(bucket, group)`` cells a row of split ``bucket``/``group`` with hole share ``hole`` counts in."""
    if bins == "paper":
        return [(str(bucket), group), (str(bucket), ALL), (ALL, ALL)]
    if bins == "lama":
        return [(lama_bin(hole), ALL), (ALL, ALL)]
    raise ValueError(f"Expected bins 'paper' or 'lama', got {bins!r}")


def cell_order(bins: str = "paper") -> list[tuple[str, str]]:
    """Every cell of a binning in report order (the overall cell last)."""
    if bins == "paper":
        cells = [(str(b), g) for b in range(1, N_BUCKETS + 1) for g in (*GROUPS, ALL)]
    elif bins == "lama":
        cells = [(label, ALL) for label in LAMA_LABELS]
    else:
        raise ValueError(f"Expected bins 'paper' or 'lama', got {bins!r}")
    return cells + [(ALL, ALL)]


def cell_title(bucket: str, group: str, bins: str = "paper") -> str:
    """Column title: ``(0.1,0.2] N`` / ``(0.1,0.2] all`` / ``20-30%`` / ``all``."""
    if bucket == ALL:
        return "all"
    if bins == "lama":
        return bucket
    b = int(bucket)
    letter = {"noborder": "N", "border": "B"}.get(group, group)
    return f"({DEFAULT_EDGES[b - 1]:g},{DEFAULT_EDGES[b]:g}] {letter}"


def cell_file_stem(method: str, bucket: str, group: str) -> str:
    """``<method>__<bucket>_<group>`` with characters unsafe in file names replaced (``%`` -> ``pct``)."""
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "_", text.replace("%", "pct"))

    return f"{safe(method)}__{safe(bucket)}_{safe(group)}"
