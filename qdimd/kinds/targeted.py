"""Masks of any kind in a hole-ratio range and border group, by each kind's own means.

MAT and CoModGAN redraw until ``lo < ratio < hi`` (``RandomMask(s, hole_range)``, as their
authors build ratio-bucketed test sets): their ``hole_range`` is set to the target range,
which also scales their shape counts as in the originals (except for targets so low that
MAT's counts would draw nothing, e.g. (0.01, 0.1]: there its own range is kept and the masks
are rejected to the target). Every other kind (LaMa, DeepFill,
box, and ``qdimd`` inside a mixture) is drawn as it is and redrawn until it fits; in a mixture
every redraw picks its component again. The border condition is checked on top. Every draw
comes from the mask's own generator, so mask ``i`` stays a pure function of (spec, size,
seed, target, ``i``); :attr:`KindParams.draws` records how many draws it took, the cost of
the cell (``qdimd bucket --kind`` reports it per cell).

Plain ``qdimd`` targets are better served by :class:`qdimd.masks.targeted.TargetedGenerator`
(which steers Algorithm 1 instead of rejecting); :func:`create_targeted` picks it for them.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..buckets import DEFAULT_EDGES, GROUPS, border_distance, bucket_range, default_margin
from ..masks.generator import mask_rng
from ..masks.params import MaskConfig
from .generator import KindGenerator, KindParams, sample_kind_params
from .mat import mat_counts
from .records import MAX_TRIES
from .spec import KindSpec, parse_kind

if TYPE_CHECKING:  # pragma: no cover
    from ..strokes.store import StrokeStore

__all__ = ["KindTargetedGenerator", "create_targeted", "draws_per_cell"]

MAX_DRAWS = 100 * MAX_TRIES
"""Draws of one targeted mask before giving up (an unreachable target for the kind)."""


def _target_spec(spec: KindSpec, lo: float, hi: float, size: tuple[int, int]) -> KindSpec:
    """MAT/CoModGAN components with ``hole_range`` set to the target (their own mechanism), unless that
    range is so low that MAT would draw no shape (``lo + hi`` below ~0.22, e.g. bucket (0.01, 0.1]):
    those keep their own range and are rejected to the target like the other kinds."""
    components = []
    for name, options, weight in spec.components:
        if name in ("mat", "comodgan"):
            own_lo, own_hi = options.hole_range
            low, high = max(lo, own_lo), min(hi, own_hi)
            if low >= high:
                raise ValueError(f"Expected the {name} hole_range {options.hole_range} to overlap the target ({lo}, {hi}], "
                                 "got no overlap")
            narrowed = dataclasses.replace(options, hole_range=(low, high))
            if max(mat_counts(narrowed, *size)[1]) >= 2:
                options = narrowed
        components.append((name, options, weight))
    return KindSpec(tuple(components))


class KindTargetedGenerator:
    """Masks of a kind spec whose hole ratio lies in ``(lo, hi]`` and whose border distance meets a condition.

    Args:
        kind: a :class:`KindSpec` or ``--kind`` text.
        config: size (and Algorithm 1's parameters for ``qdimd`` components).
        store: stroke store for ``qdimd`` components.
        seed: >= 0.
        ratio_range: ``(lo, hi)``.
        min_border_distance: every hole at least this many px from the border (``noborder``).
        max_border_distance: some hole at most this many px from the border (``border``).

    Raises:
        ValueError: bad ranges or both distance conditions.
    """

    def __init__(self, kind: "KindSpec | str", config: MaskConfig = MaskConfig(), store: "StrokeStore | None" = None,
                 seed: int = 0, ratio_range: tuple[float, float] = (DEFAULT_EDGES[0], DEFAULT_EDGES[-1]),
                 min_border_distance: int | None = None, max_border_distance: int | None = None):
        lo, hi = (float(v) for v in ratio_range)
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"Expected ratio_range (lo, hi) with 0 <= lo < hi <= 1, got {tuple(ratio_range)}")
        if min_border_distance is not None and max_border_distance is not None:
            raise ValueError("Expected at most one of min_border_distance and max_border_distance, got both")
        for name, value in (("min_border_distance", min_border_distance), ("max_border_distance", max_border_distance)):
            if value is not None and value < 0:
                raise ValueError(f"Expected {name} >= 0, got {value}")
        self.base = KindGenerator(parse_kind(kind), config, store, seed)
        self.spec = _target_spec(self.base.spec, lo, hi, tuple(config.size))
        self.config, self.seed, self.size = config, int(seed), tuple(config.size)
        self.store = None if self.base.qdimd is None else self.base.qdimd.store
        self.ratio_range = (lo, hi)
        self.min_border_distance, self.max_border_distance = min_border_distance, max_border_distance

    @classmethod
    def for_group(cls, kind: "KindSpec | str", bucket: int, group: str, config: MaskConfig = MaskConfig(),
                  store: "StrokeStore | None" = None, seed: int = 0, *, edges: Sequence[float] = DEFAULT_EDGES,
                  margin: int | None = None) -> "KindTargetedGenerator":
        """The generator of one (bucket, group) cell, as :meth:`qdimd.masks.targeted.TargetedGenerator.for_group`."""
        if group not in GROUPS:
            raise ValueError(f"Expected group in {GROUPS}, got {group!r}")
        margin = default_margin(*config.size) if margin is None else int(margin)
        if group == GROUPS[1] and margin < 1:
            raise ValueError(f"Expected margin >= 1 for the border group, got {margin}")
        lo, hi = bucket_range(bucket, edges)
        if group == GROUPS[0]:
            return cls(kind, config, store, seed, (lo, hi), min_border_distance=margin)
        return cls(kind, config, store, seed, (lo, hi), max_border_distance=margin - 1)

    def accepts(self, hole: np.ndarray) -> bool:
        """Whether a mask satisfies the ratio range and the distance condition."""
        lo, hi = self.ratio_range
        if not lo < np.count_nonzero(hole) / hole.size <= hi:
            return False
        if self.min_border_distance is not None:
            return border_distance(hole) >= self.min_border_distance
        return self.max_border_distance is None or border_distance(hole) <= self.max_border_distance

    def generate_with_params(self, index: int) -> tuple[KindParams, np.ndarray]:
        """The record and mask of ``index`` (redrawn from its own generator until accepted).

        Raises:
            ValueError: no accepted draw within :data:`MAX_DRAWS` (the kind cannot reach the target).
        """
        rng = mask_rng(self.seed, index)
        hole = np.empty(self.size, bool)
        qdimd = self.base.qdimd
        for draws in range(1, MAX_DRAWS + 1):
            record = sample_kind_params(rng, self.spec, *self.size, index=index, seed=self.seed, qdimd=qdimd, out=hole)
            if record.kind == "qdimd":
                hole = qdimd.render([record.params])[0]
            if self.accepts(hole):
                return dataclasses.replace(record, draws=draws), hole
        raise ValueError(f"Expected a {self.spec} mask with ratio in {self.ratio_range} and the border condition "
                         f"within {MAX_DRAWS} draws, got none")

    def params(self, index: int) -> KindParams:
        return self.generate_with_params(index)[0]

    def generate(self, index: int) -> np.ndarray:
        """Mask ``index``: ``(H, W)`` bool, True = hole, verified to satisfy the target."""
        return self.generate_with_params(index)[1]

    def batch(self, start: int, n: int) -> np.ndarray:
        """Masks ``start .. start + n - 1``: ``(n, H, W)`` bool."""
        if start < 0 or n < 0:
            raise ValueError(f"Expected start >= 0 and n >= 0, got start={start}, n={n}")
        return np.stack([self.generate(i) for i in range(start, start + n)]) if n else np.empty((0, *self.size), bool)


def create_targeted(kind: "KindSpec | str | None", config: MaskConfig, store, seed: int, ratio_range, **border):
    """A targeted generator for a kind: :class:`qdimd.masks.targeted.TargetedGenerator` for plain ``qdimd``
    (or None), else :class:`KindTargetedGenerator`. ``border``: ``min_border_distance``/``max_border_distance``."""
    if kind is None or parse_kind(kind).is_default:
        from ..masks.targeted import TargetedGenerator

        return TargetedGenerator(config, store, seed, ratio_range, **border)
    return KindTargetedGenerator(kind, config, store, seed, ratio_range, **border)


def draws_per_cell(manifest) -> list[tuple[int, str, int, float]]:
    """``(bucket, group, masks, mean draws per mask)`` of a bucketed split's ``manifest.csv`` (kind runs:
    the ``draws`` of each record; plain ``qdimd`` rows count 1). The cost of each cell relative to a free draw."""
    import csv

    from ..io import json_loads

    cells: dict[tuple[int, str], list[int]] = {}
    with open(manifest, newline="") as f:
        for row in csv.DictReader(f):
            draws = int(json_loads(row["params"]).get("draws", 1))
            cells.setdefault((int(row["bucket"]), row["group"]), []).append(draws)
    return [(b, g, len(v), sum(v) / len(v)) for (b, g), v in sorted(cells.items())]
