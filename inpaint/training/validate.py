"""Validation during training (``--val-every N --val-images DIR [--val-masks SPLIT]``).

The validation set is fixed for the whole run: the photos of ``--val-images``
paired with hole masks per (hole-ratio bucket, border group), as
``inpaint eval`` pairs them (:func:`inpaint.evaluation.pairing.pair_images`,
seeded with the run's seed). Masks: ``--val-masks SPLIT`` (a ``qdimd bucket``
split or a folder of masks, resized to the training size and re-bucketed), or
by default a small split generated in memory from the *test* half of the
Quick, Draw! categories with the run's seed (:class:`qdimd.masks.targeted.TargetedGenerator`,
``ceil(photos / 12)`` masks per cell). Every photo appears about once.

Scores (:func:`score`) use the evaluation's metrics (:mod:`inpaint.evaluation.metrics`)
on the uint8 composite: ``hole_l1`` (mean absolute error over the hole pixels, in %
of 255), ``psnr`` and ``ssim`` over the image, per bucket (``val_b<N>_*``) and
overall (``val_*``). Sim-K models get the validation photo's precomputed
database neighbours (so the validation photos must be in ``--db``), which
is easier than test-time retrieval from a coarse fill: it shows progress, it is
not the paper's protocol.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from qdimd.buckets import DEFAULT_EDGES, GROUPS
from qdimd.errors import ProblemLog
from qdimd.io import resize_hole

from ..device import autocast
from ..evaluation.metrics import aggregate, image_metrics
from ..evaluation.pairing import MaskEntry, load_hole, pair_images, read_split_at
from ..nn.vgg import denormalize
from .batches import imagenet_affine, normalize_uint8
from .photos import cached_scan, decode_photo

METRICS = ("hole_l1", "psnr", "ssim")
BEST_KEY = "val_hole_l1"
"""The score that picks ``best.pt`` (lower is better)."""


@dataclass(frozen=True)
class ValPair:
    """One validation image: ``image`` under ``hole`` ``(H, W)`` bool at the training size; ``aux`` for Sim-K."""

    image: Path
    hole: np.ndarray
    bucket: int
    aux: tuple[str, ...] = ()


def generated_entries(size: tuple[int, int], seed: int, per_group: int) -> dict[str, tuple[MaskEntry, np.ndarray]]:
    """``per_group`` targeted test-category masks per (bucket, group): ``{name: (entry, hole)}``."""
    from qdimd.masks.generator import MaskConfig
    from qdimd.masks.targeted import TargetedGenerator

    config = MaskConfig(size=tuple(size), split="test")
    out = {}
    for bucket in range(1, len(DEFAULT_EDGES)):
        for group in GROUPS:
            gen = TargetedGenerator.for_group(bucket, group, config, None, seed)
            for i in range(per_group):
                name = f"{bucket}/{group}/{i}"
                out[name] = (MaskEntry(name, bucket, group, 255, *size), gen.generate(i))
    return out


def build_val_set(images: str, size: tuple[int, int], seed: int, masks: str | None = None, *,
                  hole_value: int = 255, problems: ProblemLog | None = None, cache: Path | None = None,
                  neighbours=None, share=None) -> list[ValPair]:
    """The fixed validation pairs of a run (see the module docstring).

    Args:
        images: folder of validation photos.
        size: training ``(H, W)``.
        seed: the run's seed (masks and pairing).
        masks: a split folder, or None for the generated default.
        hole_value: mask polarity where the split does not say.
        problems: unreadable photos and masks go here.
        cache: header scan cache file for ``images``.
        neighbours: Sim-K: ``neighbours(path) -> tuple of k neighbour files``.
        share: the processes that share the header scan (:func:`inpaint.training.photos.cached_scan`).
    """
    problems = problems if problems is not None else ProblemLog()
    files = cached_scan(images, cache, problems, share=share)
    root = Path(images)
    names = [f.relative_to(root).as_posix() if f != root else f.name for f in files]
    per_group = max(1, math.ceil(len(files) / (2 * (len(DEFAULT_EDGES) - 1))))
    if masks is None:
        generated = generated_entries(size, seed, per_group)
        entries = [e for e, _ in generated.values()]
        hole_of = lambda e: generated[e.file][1]  # noqa: E731
    else:
        entries = read_split_at(masks, size, hole_value=hole_value, problems=problems)[1]
        hole_of = lambda e: resize_hole(load_hole(masks, e), size)  # noqa: E731
    by_file = {e.file: e for e in entries}
    by_name = dict(zip(names, files))
    pairs = []
    for p in pair_images(names, entries, seed, limit=per_group):
        path = by_name[p.image]
        aux = tuple(neighbours(path)) if neighbours is not None else ()
        pairs.append(ValPair(path, np.asarray(hole_of(by_file[p.mask]), dtype=bool), p.bucket, aux))
    return pairs


def columns(pairs: Sequence[ValPair]) -> list[str]:
    """The ``log.csv`` columns of a validation set: overall, then per bucket present."""
    buckets = sorted({p.bucket for p in pairs})
    return [f"val_{m}" for m in METRICS] + [f"val_b{b}_{m}" for b in buckets for m in METRICS]


def _composite(model, pairs: Sequence[ValPair], device, amp: bool, size, affine) -> list[tuple[np.ndarray, np.ndarray]]:
    gts = np.stack([decode_photo(p.image, size) for p in pairs])
    holes = np.stack([p.hole for p in pairs])
    image = normalize_uint8(torch.from_numpy(gts).permute(0, 3, 1, 2).to(device), affine)
    valid = torch.from_numpy(~holes)[:, None].to(device, torch.float32)
    aux = ()
    if pairs[0].aux:
        stack = np.stack([np.stack([decode_photo(a, size) for a in p.aux]) for p in pairs])
        aux = (normalize_uint8(torch.from_numpy(stack).permute(0, 1, 4, 2, 3).to(device), affine),)
    with torch.no_grad(), autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        out = model(image * valid, valid, *aux)
    pixels = (denormalize(out.float()).permute(0, 2, 3, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    comp = np.where(holes[..., None], pixels, gts)
    return list(zip(comp, gts))


def score_rows(model: torch.nn.Module, pairs: Sequence[ValPair], device: torch.device, *, batch_size: int = 8,
               amp: bool = False) -> list[tuple[int, dict]]:
    """``(bucket, metrics)`` of each pair (``model`` run in eval mode, restored after); :func:`summarize` them.

    The processes of a multi-process run each score a share of the pairs and gather the rows.
    """
    if not pairs:
        return []
    size = pairs[0].hole.shape
    affine = imagenet_affine(device)
    was_training = model.training
    model.eval()
    rows: list[tuple[int, dict]] = []
    try:
        for first in range(0, len(pairs), batch_size):
            chunk = pairs[first:first + batch_size]
            for p, (comp, gt) in zip(chunk, _composite(model, chunk, device, amp, size, affine)):
                m = image_metrics(comp, gt)
                m["hole_l1"] = m["l1"] * p.hole.size / max(1, int(p.hole.sum()))   # same errors, over the hole only
                rows.append((p.bucket, {k: float(m[k]) for k in METRICS}))
    finally:
        model.train(was_training)
    return rows


def summarize(rows: Sequence[tuple[int, dict]]) -> dict[str, float]:
    """Validation scores ``{"val_hole_l1": ..., "val_b1_psnr": ...}`` of :func:`score_rows` rows."""
    out = {}
    for name in METRICS:
        out[f"val_{name}"] = aggregate(m[name] for _, m in rows).mean
        for b in sorted({b for b, _ in rows}):
            out[f"val_b{b}_{name}"] = aggregate(m[name] for bb, m in rows if bb == b).mean
    return out


def score(model: torch.nn.Module, pairs: Sequence[ValPair], device: torch.device, *, batch_size: int = 8,
          amp: bool = False) -> dict[str, float]:
    """Validation scores ``{"val_hole_l1": ..., "val_b1_psnr": ...}`` of ``model`` (run in eval mode, restored after)."""
    return summarize(score_rows(model, pairs, device, batch_size=batch_size, amp=amp))
