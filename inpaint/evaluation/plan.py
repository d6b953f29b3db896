"""The plan of an ``inpaint eval`` run: its configuration, the resolved pairs, the run folder's files.

Shared by :mod:`inpaint.evaluation.evaluate` (which computes) and :mod:`inpaint.evaluation.report`
(which writes the outputs).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from qdimd.errors import ProblemLog

from .methods import MethodSpec
from .pairing import MaskEntry, Pair

PER_IMAGE = "per_image.csv"
PROBS = "inception_probs.f32"
RUN = "run.json"
PARTS = "grid_parts"
PER_IMAGE_COLUMNS = ("method", "bucket", "group", "index", "image", "mask", "l1", "psnr", "ssim")
GRID_EXAMPLES = 1
"""Pairs per (bucket, group) shown in the grids (index < GRID_EXAMPLES)."""


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation; every field maps to an ``inpaint eval`` option.

    Attributes:
        images: folder of ground-truth photos (recursive).
        masks: ``qdimd bucket`` split or folder of mask files.
        methods: method specs (:func:`inpaint.evaluation.methods.parse_method`).
        out: report folder.
        seed: pairing seed.
        limit: at most this many images per (bucket, group).
        size: ``(H, W)`` evaluation size; None = the masks' own (single) size.
        hole_value: mask polarity where the manifest does not say.
        iscore: compute the Inception score.
        is_splits: Inception-score splits per (method, bucket, group).
        inception_weights: torchvision Inception-v3 state dict; None = hub cache or download.
        allow_random_inception: random Inception weights when none are given (tests only).
        inception_width: channel multiplier of the Inception network (tests only).
        vgg_weights: VGG-16 state dict for Sim-K retrieval.
        allow_random_vgg: accept a database built with random VGG-16 weights (tests only).
        device: torch device for models.
    """

    images: str
    masks: str
    methods: tuple[str, ...]
    out: str
    seed: int = 0
    limit: int | None = None
    size: tuple[int, int] | None = None
    hole_value: int = 255
    iscore: bool = True
    is_splits: int = 10
    inception_weights: str | None = None
    allow_random_inception: bool = False
    inception_width: float = 1.0
    vgg_weights: str | None = None
    allow_random_vgg: bool = False
    device: str = "cpu"

    def resume_key(self) -> dict:
        """Fields that must match for a run to continue in the same folder."""
        d = dataclasses.asdict(self)
        for k in ("out", "device"):
            d.pop(k)
        d["methods"] = list(self.methods)
        d["size"] = list(self.size) if self.size else None
        return d


@dataclass
class EvalPlan:
    """Everything resolved before computing: methods, pairs, size, what is already done."""

    config: EvalConfig
    specs: list[MethodSpec]
    entries: dict[str, MaskEntry]
    pairs: list[Pair]
    size: tuple[int, int]
    from_manifest: bool
    n_masks: int
    problems: ProblemLog
    done: set[tuple[str, int, str, int]]
    n_rows: int
    image_sizes: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)
    """``(H, W) -> count`` of the readable photos (those of another size than ``size`` are scaled)."""

    @property
    def scaled_note(self) -> str | None:
        """A line saying which photos are scaled to the evaluation size, or None when all have it."""
        other = {s: n for s, n in self.image_sizes.items() if s != tuple(self.size)}
        if not other:
            return None
        sizes = ", ".join(f"{n} of {h}x{w}" for (h, w), n in sorted(other.items(), key=lambda x: -x[1])[:3])
        hint = ""
        if len(self.image_sizes) == 1 and self.config.size is None:
            (h, w), = self.image_sizes
            hint = f"; --size {h if h == w else f'{h}x{w}'} evaluates at the photos' size (masks resized and re-bucketed)"
        return (f"{sum(other.values())} photo(s) ({sizes}{', ...' if len(other) > 3 else ''}) are scaled to cover "
                f"{self.size[0]}x{self.size[1]} (the masks' size) and centre-cropped (bicubic){hint}")

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    def todo(self, pair: Pair) -> list[int]:
        """Indices into ``specs`` of the methods still to run on ``pair``."""
        return [j for j, s in enumerate(self.specs) if (s.label, pair.bucket, pair.group, pair.index) not in self.done]

    @property
    def pending(self) -> list[Pair]:
        return [p for p in self.pairs if self.todo(p)]


def part_path(out: Path, pair: Pair, what: str) -> Path:
    """Grid tile file of ``pair``: ``what`` is ``original``, ``masked``, ``m<j>`` or ``m<j>_retrieved``."""
    return out / PARTS / f"b{pair.bucket}_{pair.group}_{pair.index}_{what}.png"
