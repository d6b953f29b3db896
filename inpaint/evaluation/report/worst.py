"""Each method's worst images per hole-ratio bucket, kept as the run goes for ``report.html``.

"Worst" is by the first per-image metric of the run in the order L1 (highest),
PSNR (lowest), SSIM (lowest), LPIPS (highest); ties go to the earlier pair.
Outputs are not stored, so a tile (masked input, composite, ground truth) is
written to ``OUT/worst_parts/`` whenever a pair enters its (method, bucket)'s
current worst :data:`WORST`, before its row: a pair among the final worst was
among the worst of what had been scored when it came, so every tile the report
needs exists, also after a resumed run (the tracker starts from the rows on disk).
"""
from __future__ import annotations

import bisect
import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from qdimd.io import atomic_write_bytes, make_own_folder

from ..pairing import Pair
from ..plan import EvalPlan
from .summary import read_per_image

WORST = 3
"""Images shown per method and bucket."""
WORST_DIR = "worst_parts"
WORST_TILE = 128
ORDER = {"l1": -1.0, "psnr": 1.0, "ssim": 1.0, "lpips": -1.0}
"""Sign that makes the worst value the smallest."""


def worst_metric(metrics: tuple[str, ...]) -> str | None:
    """The metric images are ranked by, or None when the run has no per-image metric."""
    return next((m for m in ORDER if m in metrics), None)


def rank_key(value: float, metric: str, slot: int) -> tuple[float, int]:
    """Sort key: smaller is worse (NaN and infinite PSNR last)."""
    v = ORDER[metric] * value
    return (v if math.isfinite(v) else math.inf, slot)


def worst_path(out: Path, j: int, pair: Pair) -> Path:
    """Tile file of method ``j`` on ``pair``."""
    return out / WORST_DIR / f"m{j}_b{pair.bucket}_{pair.group}_{pair.index}.jpg"


def _thumb(image: np.ndarray) -> np.ndarray:
    im = Image.fromarray(image)
    scale = WORST_TILE / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
    return np.asarray(im)


def save_tile(path: Path, image: np.ndarray, hole: np.ndarray, composite: np.ndarray) -> None:
    """Masked input, composite and ground truth side by side, as a small JPEG (display only)."""
    masked = image.copy()
    masked[hole] = 255
    gap = np.full((_thumb(image).shape[0], 4, 3), 255, np.uint8)
    tile = np.concatenate([_thumb(masked), gap, _thumb(composite), gap, _thumb(image)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(tile).save(buf, format="JPEG", quality=85)
    atomic_write_bytes(path, buf.getvalue())


class WorstImages:
    """The running worst :data:`WORST` per (method, bucket); :meth:`offer` writes a tile when a pair enters them."""

    def __init__(self, plan: EvalPlan):
        self.out = plan.out
        self.metric = worst_metric(plan.config.per_image_metrics)
        self.keys: dict[tuple[int, int], list[tuple[float, int]]] = {}
        if self.metric is not None:
            make_own_folder(self.out / WORST_DIR)  # a link there is refused: tiles are never written through it
        if self.metric is None or not (self.out / "per_image.csv").exists():
            return
        labels = {s.label: j for j, s in enumerate(plan.specs)}
        slots = {(p.bucket, p.group, p.index): k for k, p in enumerate(plan.pairs)}
        for r in read_per_image(self.out, plan.config.per_image_metrics):
            slot = slots.get((r["bucket"], r["group"], r["index"]))
            if slot is not None and r["method"] in labels:
                self._insert((labels[r["method"]], r["bucket"]), rank_key(r[self.metric], self.metric, slot))

    def _insert(self, cell: tuple[int, int], key: tuple[float, int]) -> bool:
        keys = self.keys.setdefault(cell, [])
        if len(keys) >= WORST and key >= keys[-1]:
            return False
        bisect.insort(keys, key)
        del keys[WORST:]
        return True

    def offer(self, j: int, pair: Pair, slot: int, values: dict, image: np.ndarray, hole: np.ndarray,
              composite: np.ndarray) -> None:
        """Record method ``j``'s score on ``pair``; writes its tile if it is among the worst so far."""
        if self.metric is None:
            return
        if self._insert((j, pair.bucket), rank_key(values[self.metric], self.metric, slot)):
            save_tile(worst_path(self.out, j, pair), image, hole, composite)


def worst_rows(rows: list[dict], metric: str, slots: dict) -> dict[tuple[str, int], list[dict]]:
    """The worst :data:`WORST` rows of ``per_image.csv`` per (method, bucket), worst first."""
    cells: dict[tuple[str, int], list[tuple[tuple[float, int], dict]]] = {}
    for r in rows:
        slot = slots[(r["bucket"], r["group"], r["index"])]
        cells.setdefault((r["method"], r["bucket"]), []).append((rank_key(r[metric], metric, slot), r))
    return {cell: [r for _, r in sorted(items, key=lambda x: x[0])[:WORST]] for cell, items in cells.items()}
