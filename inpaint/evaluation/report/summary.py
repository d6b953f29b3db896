"""The cells of an ``inpaint eval`` report, aggregated from the run folder (never from memory).

For each method and each cell of the binning (:mod:`inpaint.evaluation.bins`):
``n`` (images, which is also the number of ground truths and of outputs
every set metric of the cell uses), mean and population std of the per-image
metrics, the Inception score over the cell's outputs (in pairing order), and
from the FID Inception's pool3 features of the cell's ground truths (``real``)
and outputs (``fake``): FID (:mod:`inpaint.evaluation.fid`) and P-IDS/U-IDS
(:mod:`inpaint.evaluation.ids`). Those features are saved per cell as
``OUT/features/<method>__<bucket>_<group>.npz`` (arrays ``real`` and ``fake``,
float32, row i of both from pair i) so that any FID can be recomputed; files
of this run's methods' cells that the report no longer has (another ``--bins``) are removed
(never another file, nor through a symbolic link out of ``OUT``).
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from qdimd.io import atomic_write_bytes, make_own_folder, owned_entry

from ..bins import cell_file_stem, cell_order, cells_of
from ..fid import FID_MIN_IMAGES, fid_from_features
from ..methods import DRIFT_WARNING
from ..metrics import aggregate
from ..plan import FAKE_FEATURES, FEATURES, PER_IMAGE, PROBS, REAL_FEATURES, EvalPlan


def read_per_image(out: Path, metrics: tuple[str, ...]) -> list[dict]:
    """Rows of ``per_image.csv`` with numbers parsed (``bucket``, ``index``, ``hole`` and the per-image ``metrics``)."""
    with open(out / PER_IMAGE, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["bucket"], r["index"], r["hole"] = int(r["bucket"]), int(r["index"]), float(r["hole"])
        r["known_drift"] = float(r["known_drift"])
        for m in metrics:
            r[m] = float(r[m])
    return rows


def _records(path: Path, n: int, width: int) -> np.ndarray:
    """The first ``n`` float32 records of ``width`` values of a raw file (memory-mapped)."""
    have = path.stat().st_size // (4 * width) if path.exists() else 0
    if have < n:
        raise ValueError(f"Expected {n} records in {path}, found {have}; delete the report folder and rerun")
    return np.memmap(path, dtype=np.float32, mode="r", shape=(n, width)) if n else np.zeros((0, width), np.float32)


def _save_features(path: Path, real: np.ndarray, fake: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, real=np.asarray(real, np.float32), fake=np.asarray(fake, np.float32))
    atomic_write_bytes(path, buf.getvalue())


def summarize(plan: EvalPlan) -> tuple[list[dict], list[str]]:
    """One result per (method, cell) with images, in method then :func:`cell_order` order, and notes for the report.

    Writes the cells' feature files when FID, P-IDS or U-IDS are asked for.
    """
    from ..scoring import feature_dim

    config, out = plan.config, plan.out
    rows = read_per_image(out, config.per_image_metrics)
    slots = {(p.bucket, p.group, p.index): k for k, p in enumerate(plan.pairs)}
    order = np.argsort([slots[(r["bucket"], r["group"], r["index"])] for r in rows], kind="stable")
    by_cell: dict[tuple[str, str, str], list[int]] = {}
    for i in order:
        r = rows[i]
        for bucket, group in cells_of(r["bucket"], r["group"], r["hole"], config.bins):
            by_cell.setdefault((r["method"], bucket, group), []).append(int(i))
    probs = _records(out / PROBS, len(rows), 1000) if config.iscore else None
    if config.iscore:  # torch: only where the Inception score is asked for
        from ...nn.inception import inception_score
    if config.features:
        dim = feature_dim(config)
        fake_all = _records(out / FAKE_FEATURES, len(rows), dim)
        real_all = _records(out / REAL_FEATURES, max(slots[(r["bucket"], r["group"], r["index"])] for r in rows) + 1
                            if rows else 0, dim)
        make_own_folder(out / FEATURES)
    results, few, written = [], [], set()
    for spec in plan.specs:
        for bucket, group in cell_order(config.bins):
            idx = by_cell.get((spec.label, bucket, group))
            if not idx:
                continue
            res = {"method": spec.label, "bucket": bucket, "group": group, "n": len(idx),
                   "known_drift": float(np.mean([rows[i]["known_drift"] for i in idx]))}
            for m in config.per_image_metrics:
                s = aggregate(rows[i][m] for i in idx)
                res[m], res[f"{m}_std"], res[f"{m}_n_inf"] = s.mean, s.std, s.n_inf
            if probs is not None:
                res["iscore"], res["iscore_std"] = inception_score(probs[idx].astype(np.float64), config.is_splits)
            if config.features:
                fake = np.asarray(fake_all[idx])
                real = np.asarray(real_all[[slots[(rows[i]["bucket"], rows[i]["group"], rows[i]["index"])] for i in idx]])
                path = out / FEATURES / f"{cell_file_stem(spec.label, bucket, group)}.npz"
                _save_features(path, real, fake)
                written.add(path.name)
                _set_metrics(res, config.metrics, real, fake)
                if len(idx) < FID_MIN_IMAGES:
                    few.append(len(idx))
            results.append(res)
    if config.features:  # files of another binning (a rerun with other --bins) would be mistaken for this one's
        ours = tuple(cell_file_stem(s.label, "", "").removesuffix("_") for s in plan.specs)  # "<method>__"
        for path in (out / FEATURES).glob("*.npz"):
            if path.name not in written and path.name.startswith(ours) and owned_entry(out, path):
                path.unlink()
    notes = []
    if few:
        notes.append(f"{len(few)} of the cells' FID and P-IDS/U-IDS use fewer than {FID_MIN_IMAGES} images "
                     f"(from {min(few)} to {max(few)}; the n row): their covariances are rank-deficient, FID is biased "
                     "upward and P-IDS/U-IDS fall towards 0 (any two small sets are linearly separable), so these "
                     "figures only rank methods of this run and are not comparable with published ones "
                     "(2,000 to 30,000 images)")
    return results, notes + drift_notes(rows)


def drift_notes(rows: list[dict]) -> list[str]:
    """A warning per method whose raw outputs change the known pixels by more than :data:`DRIFT_WARNING` on average."""
    by_method: dict[str, list[float]] = {}
    for r in rows:
        by_method.setdefault(r["method"], []).append(r["known_drift"])
    return [f"method {label} changes the known pixels by {np.mean(d):.1f} grey levels on average (known_drift; "
            f"outputs are composited before scoring): likely inverted mask polarity, or predictions of other images "
            "or crops (misaligned files)" for label, d in by_method.items() if np.mean(d) > DRIFT_WARNING]


def _set_metrics(res: dict, metrics: tuple[str, ...], real: np.ndarray, fake: np.ndarray) -> None:
    """FID, P-IDS and U-IDS of one cell into ``res`` (NaN for a cell of a single image)."""
    enough = len(real) >= 2
    if "fid" in metrics:
        res["fid"] = fid_from_features(real, fake) if enough else math.nan
    if "pids" in metrics or "uids" in metrics:
        from ..ids import discriminative_scores

        p_ids, u_ids = discriminative_scores(real, fake) if enough else (math.nan, math.nan)
        if "pids" in metrics:
            res["pids"] = p_ids
        if "uids" in metrics:
            res["uids"] = u_ids
