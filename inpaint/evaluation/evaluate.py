"""``inpaint eval``: Table 1 of Liu et al. 2018 / Iskakov 2018 for any set of methods.

Every image is paired with masks per (bucket, border group) as in
:mod:`inpaint.evaluation.pairing`, filled by every method (:mod:`inpaint.evaluation.methods`) and
scored against the ground truth (:mod:`inpaint.evaluation.metrics`); the Inception score
(:mod:`inpaint.nn.inception`) is computed over each (method, bucket, group).

Resolution: the masks set it. Images are scaled to cover the mask size and
centre-cropped (bicubic, :func:`inpaint.images.load_image`); masks are never
resized unless ``size`` asks for another resolution, in which case they are
resized with nearest neighbour and their bucket and group measured again at
that size (masks that leave every bucket are dropped).

Resume: per-image rows are appended (and flushed) to ``OUT/per_image.csv``
as they are computed, with each image's Inception class probabilities in
``OUT/inception_probs.f32`` (raw float32, one record per row, in row order).
A rerun with the same configuration skips finished (method, bucket, group,
index) rows, drops a half-written last row, and aggregates the file, so a
resumed run writes the same report as an uninterrupted one. Grid tiles are
saved under ``OUT/grid_parts/`` before their row.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import orjson

from qdimd.errors import InputError, ProblemLog
from qdimd.io import atomic_write_bytes, resize_hole

from .pairing import Pair, check_one_size, image_size, load_hole, pair_images, read_split, rebucket
from ..images import find_images, load_image, save_image
from .methods import load_method, parse_methods
from .metrics import image_metrics
from .report import write_report

from .plan import GRID_EXAMPLES, PARTS, PER_IMAGE, PER_IMAGE_COLUMNS, PROBS, RUN, EvalConfig, EvalPlan, part_path


def _recover_rows(out: Path, iscore: bool, n_classes: int) -> tuple[set, int]:
    """Finished row keys of ``out``; drops a half-written last row and surplus probability records."""
    path = out / PER_IMAGE
    if not path.exists():
        path.write_text(",".join(PER_IMAGE_COLUMNS) + "\n", encoding="utf-8")
        if iscore:
            (out / PROBS).write_bytes(b"")
        return set(), 0
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as f:
            f.truncate(len(data))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    if not data.startswith(",".join(PER_IMAGE_COLUMNS).encode()):
        raise InputError(f"{path}: not a per-image file of inpaint eval; use another --out")
    done = {(r["method"], int(r["bucket"]), r["group"], int(r["index"])) for r in rows}
    if iscore:
        record = 4 * n_classes
        probs = out / PROBS
        have = probs.stat().st_size if probs.exists() else 0
        if have < len(rows) * record:
            raise InputError(f"{probs}: holds {have // record} records for {len(rows)} rows; delete {out} and rerun")
        with open(probs, "r+b") as f:
            f.truncate(len(rows) * record)
    return done, len(rows)


def plan_evaluation(config: EvalConfig, *, problems: ProblemLog | None = None) -> EvalPlan:
    """Check the inputs, pair images with masks, and prepare (or reopen) the report folder.

    Raises:
        InputError: empty or missing folders, a bad split, masks of several sizes
            without ``size``, missing method files, or a report folder started
            with another configuration.
        ValueError: unknown methods, bad options.
    """
    specs = parse_methods(list(config.methods))
    if config.is_splits < 1:
        raise ValueError(f"Expected is_splits >= 1, got {config.is_splits}")
    problems = problems if problems is not None else ProblemLog()
    images_root = Path(config.images)
    if not images_root.is_dir():
        raise InputError(f"{images_root}: no such image folder")
    names, image_sizes = _scan_images(images_root, problems)
    entries, from_manifest = read_split(config.masks, hole_value=config.hole_value, problems=problems)
    n_masks = len(entries)
    if config.size is not None:
        entries = rebucket(config.masks, entries, config.size)
        if not entries:
            raise InputError(f"{config.masks}: no mask stays in a bucket when resized to {config.size[0]}x{config.size[1]}")
    size = tuple(config.size) if config.size is not None else check_one_size(entries, config.masks)
    pairs = pair_images(names, entries, config.seed, config.limit)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    run = {"config": config.resume_key()}
    run_path = out / RUN
    if run_path.exists():
        previous = orjson.loads(run_path.read_bytes()).get("config", {})
        changed = sorted(k for k in set(previous) | set(run["config"]) if previous.get(k) != run["config"].get(k))
        if changed:
            raise InputError(
                f"{out}: holds a run with another configuration ({', '.join(changed)} differ); "
                "use a new --out or delete the folder"
            )
    else:
        atomic_write_bytes(run_path, orjson.dumps(run, option=orjson.OPT_INDENT_2))
    (out / PARTS).mkdir(exist_ok=True)
    done, n_rows = _recover_rows(out, config.iscore, 1000)
    return EvalPlan(config, specs, {e.file: e for e in entries}, pairs, size, from_manifest, n_masks, problems, done, n_rows,
                    image_sizes)


def _scan_images(root: Path, problems: ProblemLog) -> tuple[list[str], dict[tuple[int, int], int]]:
    """Names (relative to ``root``) of the readable photos and a count of their sizes; unreadable ones reported."""
    names, sizes = [], {}
    for path in find_images(root):
        try:
            size = image_size(path)
        except InputError as exc:
            problems.add(str(path), None, str(exc).split(": ", 1)[-1])
            continue
        names.append(path.relative_to(root).as_posix())
        sizes[size] = sizes.get(size, 0) + 1
    if not names:
        raise InputError(f"{root}: no readable image")
    return names, sizes


def run_evaluation(plan: EvalPlan) -> Iterator[Pair]:
    """Compute the missing rows, appending them to ``per_image.csv``; yields each finished pair."""
    config, out = plan.config, plan.out
    pending = plan.pending
    if not pending:
        return
    methods = {j: load_method(
        s, device=config.device, vgg_weights=config.vgg_weights, allow_random_vgg=config.allow_random_vgg
    ) for j, s in enumerate(plan.specs)}
    inception = None
    if config.iscore:
        from ..nn.inception import inception_probs, load_inception

        inception = load_inception(
            config.inception_weights, allow_random=config.allow_random_inception, width=config.inception_width
        )
    images_root = Path(config.images)
    with open(out / PER_IMAGE, "a", newline="", encoding="utf-8") as rows_file, \
            open(out / PROBS, "ab") if inception is not None else open(os.devnull, "wb") as probs_file:
        writer = csv.writer(rows_file)
        for pair in pending:
            entry = plan.entries[pair.mask]
            image = load_image(images_root / pair.image, plan.size)
            hole = resize_hole(load_hole(config.masks, entry), plan.size)
            grid = pair.index < GRID_EXAMPLES
            if grid:
                masked = image.copy()
                masked[hole] = 255
                save_image(part_path(out, pair, "original"), image)
                save_image(part_path(out, pair, "masked"), masked)
            results = []
            for j in plan.todo(pair):
                filled = methods[j](image, hole, str(images_root / pair.image))
                results.append((j, filled.composite, image_metrics(filled.composite, image)))
                if grid:
                    save_image(part_path(out, pair, f"m{j}"), filled.composite)
                    if filled.retrieved is not None:
                        save_image(part_path(out, pair, f"m{j}_retrieved"), filled.retrieved)
            if inception is not None:  # one batch per pair; records first, rows after (see _recover_rows)
                probs = inception_probs(inception, np.stack([c for _, c, _ in results]), device=config.device)
                probs_file.write(probs.astype(np.float32).tobytes())
                probs_file.flush()
            for j, _, scores in results:
                writer.writerow([plan.specs[j].label, pair.bucket, pair.group, pair.index, pair.image, pair.mask,
                                 repr(scores["l1"]), repr(scores["psnr"]), repr(scores["ssim"])])
                plan.done.add((plan.specs[j].label, pair.bucket, pair.group, pair.index))
            rows_file.flush()
            plan.n_rows += len(results)
            yield pair


def evaluate_methods(config: EvalConfig) -> dict[str, Path]:
    """Plan, run and report in one call (no progress bar); returns the written files by name."""

    plan = plan_evaluation(config)
    for _ in run_evaluation(plan):
        pass
    return write_report(plan)
