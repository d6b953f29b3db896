"""The outputs of ``inpaint eval``: ``results.csv``, ``report.md``, ``results.json`` and ``grid_<bucket>.png``.

Everything is aggregated from ``per_image.csv`` (and the Inception class
probabilities beside it), never from memory, so a resumed run reports exactly
what an uninterrupted one does (:mod:`inpaint.evaluation.summary`). ``report.md``
lays the results out like Table 1 of Liu et al. 2018: one row per metric and
method, one column per hole-ratio bucket with N (``noborder``: every hole at
least the margin from the border), B (``border``) and ``all`` (both)
sub-columns, and an overall column; cells are ``mean ± std`` over the images
(one value for FID, P-IDS, U-IDS). ``--bins lama`` gives LaMa's 10% area bins instead.
"""
from __future__ import annotations

import csv
import io
import math
import platform
from pathlib import Path

import numpy as np
from PIL import Image

from qdimd.buckets import default_margin
from qdimd.io import atomic_write_bytes, json_dumps

from ..pairing import split_margin
from ..bins import cell_order, cell_title
from ..fid import FID_MIN_IMAGES
from ..plan import GRID_EXAMPLES, PER_IMAGE, EvalPlan, part_path
from ...images import load_image
from ..methods import DRIFT_WARNING
from ..metrics import SSIM_PARAMS
from .html import report_html
from .protocol import protocol
from .summary import summarize

KEY_COLUMNS = ("method", "bucket", "group", "n", "known_drift")
METRIC_TITLES = {"l1": "L1 (%) ↓", "psnr": "PSNR (dB) ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓", "iscore": "IS ↑",
                 "fid": "FID ↓", "pids": "P-IDS (%) ↑", "uids": "U-IDS (%) ↑"}
DECIMALS = {"l1": 2, "psnr": 2, "ssim": 4, "lpips": 4, "iscore": 2, "fid": 2, "pids": 2, "uids": 2}
SCALAR_METRICS = ("fid", "pids", "uids")
"""One value per cell (no std); P-IDS and U-IDS shown in percent like MAT's tables."""
GROUP_LETTER = {"noborder": "N", "border": "B"}


def result_columns(metrics: tuple[str, ...]) -> tuple[str, ...]:
    """``results.csv`` columns: the keys (with the cell's mean ``known_drift``), ``<m>, <m>_std`` per metric with a spread, ``fid``, ``pids``, ``uids``."""
    cols = list(KEY_COLUMNS)
    for m in metrics:
        cols += [m] if m in SCALAR_METRICS else [m, f"{m}_std"]
    return tuple(cols)


def _csv_bytes(results: list[dict], metrics: tuple[str, ...]) -> bytes:
    columns = result_columns(metrics)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in results:
        writer.writerow([repr(r[c]) if isinstance(r[c], float) else r[c] for c in columns])
    return buf.getvalue().encode("utf-8")


def format_cell(mean: float, std: float | None, metric: str) -> str:
    """``mean ± std`` with the metric's decimals (``inf`` for infinite PSNR, ``–`` for NaN); no std for FID and IDS."""
    if math.isinf(mean):
        return "inf"
    if math.isnan(mean):
        return "–"
    d = DECIMALS[metric]
    if metric in ("pids", "uids"):
        return f"{100 * mean:.{d}f}"
    return f"{mean:.{d}f}" if std is None else f"{mean:.{d}f} ± {std:.{d}f}"


def table_markdown(results: list[dict], labels: list[str], metrics: tuple[str, ...], bins: str = "paper") -> str:
    """The Table 1 layout: rows (metric, method), one column per cell of the binning that has images."""
    cells = {(r["method"], r["bucket"], r["group"]): r for r in results}
    keys = [k for k in cell_order(bins) if any((label, *k) in cells for label in labels)]
    head = ["Metric", "Method"] + [cell_title(b, g, bins) for b, g in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "--:|" * (len(head) - 2)]
    ns = {label: [str(cells[(label, b, g)]["n"]) if (label, b, g) in cells else "–" for b, g in keys] for label in labels}
    if len({tuple(v) for v in ns.values()}) == 1:
        lines.append("| n | all | " + " | ".join(ns[labels[0]]) + " |")
    else:
        lines += [f"| n | {label} | " + " | ".join(ns[label]) + " |" for label in labels]
    shown = {label: label + (f" ⚠ drift {d:.1f}" if (d := _mean_drift(results, label)) > DRIFT_WARNING else "")
             for label in labels}  # a table copied without the report's warnings still flags the method
    for m in metrics:
        for k, label in enumerate(labels):
            row = [METRIC_TITLES[m] if k == 0 else "", shown[label]]
            for b, g in keys:
                r = cells.get((label, b, g))
                row.append(format_cell(r[m], r.get(f"{m}_std"), m) if r else "–")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def border_margin(plan: EvalPlan) -> int:
    """The split's border margin (its config.json) or the default one of the evaluation size."""
    default = default_margin(*plan.size)
    if plan.from_manifest and plan.config.size is None:
        margin = split_margin(plan.config.masks)
        return default if margin is None else margin
    return default


def _report_md(plan: EvalPlan, results: list[dict], notes: list[str]) -> str:
    c = plan.config
    h, w = plan.size
    labels = [s.label for s in plan.specs]
    inf = sum(r.get("psnr_n_inf", 0) for r in results if r["bucket"] == "all" and r["group"] == "all")  # each image once
    margin = border_margin(plan)
    parts = [
        "# Inpainting evaluation\n",
        f"Images `{c.images}`, masks `{c.masks}` ({'qdimd bucket split' if plan.from_manifest else 'folder, buckets measured'}), "
        f"{h}x{w} px, seed {c.seed}, border margin {margin} px. "
        "N: every hole at least the margin from the border; B: some hole within it; all: both."
        + (" Columns: hole area in LaMa's 10% bins ([lo, hi), area = hole pixels / all pixels)." if c.bins == "lama" else "")
        + "\n",
        *([f"{plan.scaled_note[0].upper()}{plan.scaled_note[1:]}.\n"] if plan.scaled_note else []),
        "Methods: " + ", ".join(f"`{s.label}` ({s.kind})" for s in plan.specs) + ".\n",
        table_markdown(results, labels, c.metrics, c.bins),
        "L1: mean |output - truth| / 255 x 100 over all pixels and channels; PSNR: 10 log10(255^2 / MSE); "
        "SSIM: scikit-image structural_similarity(" + ", ".join(f"{k}={v}" for k, v in SSIM_PARAMS.items()) + "); "
        "all on the composite over the whole image. Cells: mean ± population std over the images.\n",
    ]
    if "lpips" in c.metrics:
        parts.append(f"LPIPS: v0.1 with the {'AlexNet' if c.lpips_net == 'alex' else 'VGG-16'} backbone and the "
                     "lpips linear layers, on the composite at the evaluation size (no resize), mean ± std over the images.\n")
    if c.features:
        parts.append("FID, P-IDS, U-IDS: 2048-d pool3 features of pytorch-fid's Inception (the TensorFlow 2015-12-05 "
                     "graph), inputs /255, 299x299 bilinear (align_corners=False, no antialias), 2x-1; each cell compares "
                     "its n ground truths with its n composites; P-IDS/U-IDS: linear SVM as MAT, in %. "
                     "Features: `features/<method>__<bucket>_<group>.npz`.\n")
    if c.iscore:
        parts.append(f"IS: exp(E KL(p(y|x) || p(y))) with torchvision's Inception-v3 at 299x299 (bilinear), "
                     f"{c.is_splits} splits (at most one per image), mean ± std over splits.\n")
    parts.append("Protocol: every output is composited with the ground truth on the known pixels before scoring. "
                 "Known-pixel drift of the raw outputs (mean |output - truth| on known pixels, 0-255): "
                 + ", ".join(f"`{label}` {_mean_drift(results, label):.2f}" for label in labels) + ".\n")
    parts += [f"**Warning**: {note}.\n" for note in notes]
    if inf:
        parts.append(f"{inf} image(s) had an identical output (PSNR infinite); they are left out of the PSNR mean and std.\n")
    parts.append("Grids: " + ", ".join(f"[bucket {b}](grid_{b}.png)" for b in sorted({p.bucket for p in plan.pairs})) + ".\n")
    return "\n".join(parts)


def _mean_drift(results: list[dict], label: str) -> float:
    """The method's known drift over all its images (its overall cell)."""
    return next((r["known_drift"] for r in results if r["method"] == label and r["bucket"] == "all"), 0.0)


def _weights(path: str | None, random: bool) -> str:
    return path or ("random" if random else "torch.hub cache or download")


def _versions() -> dict[str, str]:
    import cv2
    import skimage

    from qdimd.version import __version__ as qdimd_version

    try:
        import torch
    except ImportError:  # an OpenCV baseline scored by L1/PSNR/SSIM needs no torch
        torch = None
    return {"qdimd": qdimd_version, "torch": torch.__version__ if torch else "not installed", "numpy": np.__version__,
            "skimage": skimage.__version__, "opencv": cv2.__version__, "python": platform.python_version()}


def _tile(image: np.ndarray, tile: int, label: str | None = None) -> np.ndarray:
    im = Image.fromarray(image)
    if im.size != (tile, tile):
        im = im.resize((tile, tile), Image.BILINEAR)
    out = np.asarray(im).copy()
    if label:
        import cv2

        cv2.rectangle(out, (0, 0), (7 * len(label) + 6, 14), (0, 0, 0), -1)
        cv2.putText(out, label, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_grids(plan: EvalPlan, tile: int = 160) -> list[Path]:
    """``grid_<bucket>.png``: per example pair a row of original, masked, each method (and Sim-K's retrieved image)."""
    out, written = plan.out, []
    tile = min(tile, *plan.size)
    for bucket in sorted({p.bucket for p in plan.pairs}):
        rows = []
        for pair in (p for p in plan.pairs if p.bucket == bucket and p.index < GRID_EXAMPLES):
            row = [("original " + GROUP_LETTER[pair.group], "original"), ("masked", "masked")]
            for j, spec in enumerate(plan.specs):
                row.append((spec.label, f"m{j}"))
                if part_path(out, pair, f"m{j}_retrieved").exists():
                    row.append((f"{spec.label} retrieved", f"m{j}_retrieved"))
            tiles = [_tile(load_image(part_path(out, pair, what)), tile, label)
                     for label, what in row if part_path(out, pair, what).exists()]
            rows.append(np.concatenate(tiles, axis=1))
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        buf = io.BytesIO()
        Image.fromarray(np.concatenate(rows, axis=0)).save(buf, format="PNG", optimize=True)
        path = out / f"grid_{bucket}.png"
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written


def write_report(plan: EvalPlan) -> dict[str, Path]:
    """Write ``results.csv``, ``report.md``, ``results.json`` and the grids; returns the paths by name."""
    out, c = plan.out, plan.config
    results, notes = summarize(plan)
    notes = plan.notes + notes
    atomic_write_bytes(out / "results.csv", _csv_bytes(results, c.metrics))
    atomic_write_bytes(out / "report.md", _report_md(plan, results, notes).encode("utf-8"))
    pairs_per_group: dict[str, int] = {}
    for p in plan.pairs:
        pairs_per_group[f"{p.bucket}/{p.group}"] = pairs_per_group.get(f"{p.bucket}/{p.group}", 0) + 1
    info = {
        "versions": _versions(),
        "seed": c.seed,
        "config": {**c.resume_key(), "out": c.out, "device": c.device},
        "size": list(plan.size),
        "border_margin": border_margin(plan),
        "split": {"path": c.masks, "manifest": plan.from_manifest, "masks_read": plan.n_masks,
                  "masks_in_buckets": len(plan.entries), "skipped_files": [str(p) for p in plan.problems.problems]},
        "pairs_per_group": pairs_per_group,
        "methods": [{"label": s.label, "kind": s.kind, "checkpoint": s.checkpoint, "db": s.db, "coarse": s.coarse,
                     "target": s.target}
                    for s in plan.specs],
        "metrics": {"l1": "mean(|a-b|)/255*100 over all pixels and channels", "psnr": "10*log10(255^2/MSE), "
                    "infinite values left out of mean/std (counted in psnr_n_inf)", "ssim": SSIM_PARAMS,
                    "iscore": {"splits": c.is_splits, "input": "299x299 bilinear", "network": "torchvision inception_v3 layout",
                               "weights": _weights(c.inception_weights, c.allow_random_inception or c.allow_random_weights)}
                    if c.iscore else None,
                    "lpips": {"version": "0.1", "net": c.lpips_net, "input": "2*x/255-1 at the evaluation size",
                              "weights": _weights(c.lpips_weights, c.allow_random_weights),
                              "backbone": _weights(c.alexnet_weights if c.lpips_net == "alex" else c.vgg_weights,
                                                   c.allow_random_weights)} if "lpips" in c.metrics else None,
                    "fid_features": {"network": "pytorch-fid FID Inception (pt_inception-2015-12-05)", "dim": "pool3, 2048",
                                     "input": "x/255, 299x299 bilinear align_corners=False no antialias, 2x-1",
                                     "weights": _weights(c.fid_weights, c.allow_random_weights),
                                     "min_images": FID_MIN_IMAGES, "ids": "sklearn LinearSVC(dual=False), as MAT"}
                    if c.features else None,
                    "bins": c.bins},
        "protocol": protocol(plan, results),
        "notes": notes,
        "results": results,
    }
    atomic_write_bytes(out / "results.json", json_dumps(info, indent=True))
    grids = write_grids(plan)
    atomic_write_bytes(out / "report.html", report_html(plan, results, notes, table_markdown(results, [s.label for s in plan.specs], c.metrics, c.bins)).encode("utf-8"))
    files = {"report": out / "report.md", "report_html": out / "report.html", "results_csv": out / "results.csv", "results_json": out / "results.json",
             "per_image": out / PER_IMAGE}
    files.update({g.stem: g for g in grids})
    return files
