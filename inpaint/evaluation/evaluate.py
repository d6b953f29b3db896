"""``inpaint eval``: Table 1 of Liu et al. 2018 / Iskakov 2018 for any set of methods.

Every image is paired with masks per (bucket, border group) as in
:mod:`inpaint.evaluation.pairing`, filled by every method (:mod:`inpaint.evaluation.methods`: built-ins,
``folder:`` predictions, ``py:`` plug-ins), composited with the ground truth on the known pixels (the raw
output's ``known_drift`` kept, :mod:`inpaint.evaluation.methods.protocol`) and
scored against the ground truth (:mod:`inpaint.evaluation.scoring`: L1, PSNR,
SSIM, LPIPS per image); the Inception score, FID and P-IDS/U-IDS are computed
per cell at report time (:mod:`inpaint.evaluation.summary`).

Resolution: the masks set it. Images are scaled to cover the mask size and
centre-cropped (bicubic, :func:`inpaint.images.load_image`); masks are never
resized unless ``size`` asks for another resolution, in which case they are
resized with nearest neighbour and their bucket and group measured again at
that size (masks that leave every bucket are dropped).

Resume: per-image rows are appended (and flushed) to ``OUT/per_image.csv``
as they are computed, with each image's Inception class probabilities in
``OUT/inception_probs.f32`` and its FID-Inception pool3 features in
``OUT/pool3_fake.f32`` (raw float32, one record per row, in row order); the
ground truths' features go to ``OUT/pool3_real.f32`` at the record of their
pair's position in the pairing. Records are written before their rows. A rerun with the same configuration skips finished (method, bucket, group,
index) rows, drops a half-written last row, and aggregates the file, so a
resumed run writes the same report as an uninterrupted one. Grid tiles are
saved under ``OUT/grid_parts/`` before their row.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from qdimd.errors import InputError, ProblemLog, name_problem
from qdimd.io import (atomic_write_bytes, check_not_input, json_dumps, json_loads, make_own_folder, read_json_object,
                      resize_hole)

from qdimd.buckets import hole_ratio

from .pairing import (MaskEntry, Pair, check_one_size, image_size, load_hole, pair_images, pair_stem, read_split_at)
from ..images import find_images, load_image, save_image
from .methods import (PredictionIndex, Query, changed_stems, check_output, composite, fill_many, index_predictions, known_drift,
                      load_method, parse_methods, resolve_callable)
from .report import write_report
from .report.worst import WorstImages
from .scoring import feature_dim, load_metric_networks, score_batch

from .plan import (BINS, FAKE_FEATURES, GRID_EXAMPLES, PARTS, PER_IMAGE, PREDICTIONS, PROBS, REAL_FEATURES, RUN,
                   EvalConfig, EvalPlan, check_metrics, check_same_inputs, changed_settings, check_same_methods,
                   input_state, method_state, part_path)


def _record_files(config: EvalConfig) -> list[tuple[str, int]]:
    """``(file, bytes per row)`` of the files with one record per row of ``per_image.csv``."""
    files = [(PROBS, 4 * 1000)] if config.iscore else []
    return files + ([(FAKE_FEATURES, 4 * feature_dim(config))] if config.features else [])


def _recover_rows(out: Path, config: EvalConfig) -> tuple[set, int]:
    """Finished row keys of ``out``; drops a half-written last row and surplus records."""
    path = out / PER_IMAGE
    columns = ",".join(config.per_image_columns)
    for name in [PER_IMAGE, REAL_FEATURES] + [name for name, _ in _record_files(config)]:
        if (out / name).is_symlink():  # appended to and truncated: never through a link to another file
            raise InputError(f"{out / name}: a symbolic link where inpaint eval keeps its own file; remove it")
    if config.features:
        (out / REAL_FEATURES).touch()
    if not path.exists():
        path.write_text(columns + "\n", encoding="utf-8")
        for name, _ in _record_files(config):
            (out / name).write_bytes(b"")
        return set(), 0
    data = path.read_bytes()
    if not data.startswith((columns + "\n").encode()):  # before truncating anything
        raise InputError(f"{path}: not a per-image file of inpaint eval with columns {columns}; use another --out")
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as f:
            f.truncate(len(data))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    done = {(r["method"], int(r["bucket"]), r["group"], int(r["index"])) for r in rows}
    for name, record in _record_files(config):
        file = out / name
        have = file.stat().st_size if file.exists() else 0
        if have < len(rows) * record:
            raise InputError(f"{file}: holds {have // record} records for {len(rows)} rows; delete {out} and rerun")
        with open(file, "r+b") as f:
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
    if check_metrics(config.metrics) != tuple(config.metrics):
        raise ValueError(f"Expected metrics in the order {check_metrics(config.metrics)}, got {config.metrics} "
                         "(pass them through inpaint.evaluation.plan.check_metrics)")
    if config.bins not in BINS or config.lpips_net not in ("alex", "vgg") or config.batch_size < 1:
        raise ValueError(f"Expected bins in {BINS}, lpips_net alex or vgg and batch_size >= 1; got {config.bins!r}, "
                         f"{config.lpips_net!r}, {config.batch_size}")
    if "pids" in config.metrics or "uids" in config.metrics:
        from .ids import require_sklearn

        require_sklearn()
    problems = problems if problems is not None else ProblemLog()
    out = Path(config.out)
    check_not_input(out, {"--images": config.images, "--masks": config.masks,
                          "--method": [f for s in specs for f in (s.checkpoint, s.db, s.coarse) if f]
                          + [s.target for s in specs if s.kind == "folder"]})
    run_path = out / RUN
    if out.is_dir() and not run_path.exists() and any(out.iterdir()):
        raise InputError(f"{out}: not empty and not an inpaint eval report folder (no {RUN}), whose files it would "
                         "replace; choose a new or empty --out")
    previous = read_json_object(run_path, "an inpaint eval run record") if run_path.exists() else None
    changed = changed_settings(previous.get("config", {}), config.resume_key()) if previous is not None else []
    if changed and _holds_rows(out):  # refused before the photos and masks are read
        raise InputError(
            f"{out}: holds a run with another configuration ({', '.join(changed)} differ); "
            "use a new --out or delete the folder"
        )
    sel = select_pairs(config, problems)
    entries, pairs, size = sel.entries, sel.pairs, sel.size
    predictions = {s.label: index_predictions(s.label, s.target, [pair_stem(p) for p in pairs], size,
                                              resize=config.resize_preds) for s in specs if s.kind == "folder"}
    for spec in specs:  # a plug-in that cannot be imported stops the run before the report folder is made
        if spec.kind in ("py", "entry"):
            resolve_callable(spec.label, spec.target)
    out.mkdir(parents=True, exist_ok=True)
    if changed:  # a run that stopped before its first result (e.g. a missing flag): its files go
        _clear_records(out)
        previous = None
    run = {"config": config.resume_key(), "inputs": input_state(config, pairs, entries), "methods": method_state(specs)}
    if previous is None:  # a new run: run.json first, so that an interrupt never leaves a folder taken for a foreign one
        atomic_write_bytes(run_path, json_dumps(run, indent=True))
    make_own_folder(out / PARTS)
    done, n_rows = _recover_rows(out, config)
    check_same_inputs(out, (previous or {}).get("inputs"), run["inputs"], pairs)
    check_same_methods(out, (previous or {}).get("methods"), run["methods"], done)
    check_predictions(out, predictions, done)
    if previous is not None and previous != json_loads(json_dumps(run)):
        atomic_write_bytes(run_path, json_dumps(run, indent=True))
    return EvalPlan(config, specs, entries, pairs, size, sel.from_manifest, sel.n_masks, problems, done, n_rows,
                    sel.image_sizes, predictions, [n for index in predictions.values() for n in index.notes])


@dataclass(frozen=True)
class Selection:
    """The pairs of an evaluation and what they were drawn from (:func:`select_pairs`)."""

    entries: dict[str, MaskEntry]
    pairs: list[Pair]
    size: tuple[int, int]
    from_manifest: bool
    n_masks: int
    image_sizes: dict[tuple[int, int], int]


def select_pairs(config: EvalConfig, problems: ProblemLog) -> Selection:
    """The image/mask pairs ``config`` scores (``images``, ``masks``, ``seed``, ``limit``, ``size``, ``hole_value``).

    Shared by ``inpaint eval`` and ``inpaint pairs``, so that both see the same pairs.

    Raises:
        InputError: empty or missing folders, a bad split, masks of several sizes without ``size``.
    """
    images_root = Path(config.images)
    if not images_root.is_dir():
        raise InputError(f"{images_root}: no such image folder")
    names, image_sizes = _scan_images(images_root, problems)
    entries, at_size, from_manifest = read_split_at(config.masks, config.size, hole_value=config.hole_value,
                                                    problems=problems)
    n_masks = len(entries)
    if config.size is not None:
        entries = at_size
        if not entries:
            raise InputError(f"{config.masks}: no mask stays in a bucket when resized to {config.size[0]}x{config.size[1]}")
    size = tuple(config.size) if config.size is not None else check_one_size(entries, config.masks)
    pairs = pair_images(names, entries, config.seed, config.limit)
    return Selection({e.file: e for e in entries}, pairs, size, from_manifest, n_masks, image_sizes)


def load_pair(config: EvalConfig, entries: dict[str, MaskEntry], size: tuple[int, int], pair: Pair
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(ground truth (H, W, 3) uint8, hole (H, W) bool)`` of ``pair`` at ``size``, exactly as scored."""
    image = load_image(Path(config.images) / pair.image, size)
    return image, resize_hole(load_hole(config.masks, entries[pair.mask]), size)


def check_predictions(out: Path, predictions: dict[str, PredictionIndex], done: set) -> None:
    """Compare the folder methods' predictions with those ``out`` scored, then record them in ``OUT/predictions.json``.

    Raises:
        InputError: predictions that changed (added, removed, other size or mtime) since a method's
            scores were written; nothing is changed then.
    """
    path = out / PREDICTIONS
    stored = read_json_object(path, "inpaint eval's prediction fingerprints") if path.exists() else {}
    for label, index in predictions.items():
        old = stored.get(label, {}).get("files")
        scored = any(key[0] == label for key in done)
        if old is not None and scored and (changed := changed_stems(old, index.listing)):
            shown = ", ".join(changed[:5]) + (f", ... ({len(changed)} in all)" if len(changed) > 5 else "")
            raise InputError(f"method {label}: predictions in {index.root} changed since their scores in {out} were "
                             f"written (added, removed or modified: {shown}); use a new --out, or delete {out}")
    if predictions:
        stored.update({label: {"folder": str(index.root), "sha256": index.digest, "files": index.listing}
                       for label, index in predictions.items()})
        atomic_write_bytes(path, json_dumps(stored))


def _holds_rows(out: Path) -> bool:
    """Whether ``out`` holds a finished per-image row (more than the header line of ``per_image.csv``)."""
    path = out / PER_IMAGE
    return path.exists() and path.read_bytes().rstrip(b"\n").count(b"\n") > 0


def _clear_records(out: Path) -> None:
    """Remove what a run that finished no row wrote (its record files, grid tiles), so another configuration can start there."""
    import shutil

    for name in (PER_IMAGE, PROBS, FAKE_FEATURES, REAL_FEATURES):
        (out / name).unlink(missing_ok=True)
    if (out / PARTS).is_dir() and not (out / PARTS).is_symlink():  # a link: refused by make_own_folder, naming it
        shutil.rmtree(out / PARTS)


def _scan_images(root: Path, problems: ProblemLog) -> tuple[list[str], dict[tuple[int, int], int]]:
    """Names (relative to ``root``) of the readable photos and a count of their sizes; unreadable ones reported."""
    names, sizes = [], {}
    for path in find_images(root):
        if name_problem(path):
            problems.add(str(path), None, name_problem(path))
            continue
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
    """Compute the missing rows, appending them to ``per_image.csv``; yields each finished pair.

    Pairs are filled and scored ``config.batch_size`` at a time (the metric
    networks run batched on ``config.device``); a batch's records and rows are
    written, and its pairs yielded, when the whole batch is scored.
    """
    config, out = plan.config, plan.out
    pending = plan.pending
    if not pending:
        return
    methods = {j: load_method(
        s, device=config.device, vgg_weights=config.vgg_weights, allow_random_vgg=config.allow_random_vgg,
        predictions=plan.predictions.get(s.label), dup_threshold=config.dup_threshold,
    ) for j, s in enumerate(plan.specs)}
    nets = load_metric_networks(config)
    slots = {p: k for k, p in enumerate(plan.pairs)}
    worst = WorstImages(plan)
    record_files = {name: open(out / name, "ab") for name, _ in _record_files(config)}
    real_file = open(out / REAL_FEATURES, "r+b") if config.features else None
    try:
        with open(out / PER_IMAGE, "a", newline="", encoding="utf-8") as rows_file:
            writer = csv.writer(rows_file)
            for start in range(0, len(pending), config.batch_size):
                batch = pending[start:start + config.batch_size]
                filled = _fill_batch(plan, methods, batch)
                owner = np.array([k for k, (_, _, results) in enumerate(filled) for _ in results], np.int64)
                scores = score_batch(nets, config, np.stack([image for image, _, _ in filled]),
                                     np.stack([r.composite for _, _, results in filled for r in results]), owner)
                # records first, rows after (see _recover_rows)
                if scores.probs is not None:
                    record_files[PROBS].write(scores.probs.tobytes())
                if scores.fake is not None:
                    record_files[FAKE_FEATURES].write(scores.fake.astype(np.float32).tobytes())
                    for pair, feature in zip(batch, scores.real):
                        real_file.seek(slots[pair] * feature.nbytes)
                        real_file.write(feature.astype(np.float32).tobytes())
                    real_file.flush()
                for f in record_files.values():
                    f.flush()
                row = 0
                for pair, (image, hole, results) in zip(batch, filled):
                    for r in results:
                        values = scores.per_image[row]
                        worst.offer(r.j, pair, slots[pair], values, image, hole, r.composite)  # tile before row
                        writer.writerow([plan.specs[r.j].label, pair.bucket, pair.group, pair.index, pair.image,
                                         pair.mask, repr(float(hole_ratio(hole))), repr(r.drift),
                                         *(repr(values[m]) for m in config.per_image_metrics)])
                        plan.done.add((plan.specs[r.j].label, pair.bucket, pair.group, pair.index))
                        row += 1
                rows_file.flush()
                plan.n_rows += row
                yield from batch
    finally:
        for f in [*record_files.values(), *([real_file] if real_file else [])]:
            f.close()


@dataclass(frozen=True)
class _Result:
    j: int
    composite: np.ndarray
    drift: float


def _fill_batch(plan: EvalPlan, methods: dict, batch: list[Pair]) -> list[tuple[np.ndarray, np.ndarray, list[_Result]]]:
    """Per pair ``(ground truth, hole, [result of each method still to run])``; each method sees the batch at once.

    Every output is checked (:func:`inpaint.evaluation.methods.protocol.check_output`), composited with the
    ground truth on the known pixels, and its ``known_drift`` measured.
    """
    config, out = plan.config, plan.out
    loaded = [load_pair(config, plan.entries, plan.size, pair) for pair in batch]
    todo = [set(plan.todo(pair)) for pair in batch]
    results: list[list[_Result]] = [[] for _ in batch]
    for j, spec in enumerate(plan.specs):
        ks = [k for k in range(len(batch)) if j in todo[k]]
        if not ks:
            continue
        queries = [Query(str(Path(config.images) / batch[k].image), pair_stem(batch[k])) for k in ks]
        outputs = fill_many(methods[j], [loaded[k][0] for k in ks], [loaded[k][1] for k in ks], queries)
        for k, query, filled in zip(ks, queries, outputs):
            (image, hole), pair = loaded[k], batch[k]
            output = check_output(filled.output, image.shape, spec.label, query.stem)
            results[k].append(_Result(j, composite(output, image, hole), known_drift(output, image, hole)))
            if pair.index < GRID_EXAMPLES:
                save_image(part_path(out, pair, f"m{j}"), results[k][-1].composite)
                if filled.retrieved is not None:
                    save_image(part_path(out, pair, f"m{j}_retrieved"), filled.retrieved)
    for (image, hole), pair in zip(loaded, batch):
        if pair.index < GRID_EXAMPLES:
            masked = image.copy()
            masked[hole] = 255
            save_image(part_path(out, pair, "original"), image)
            save_image(part_path(out, pair, "masked"), masked)
    return [(image, hole, res) for (image, hole), res in zip(loaded, results)]


def evaluate_methods(config: EvalConfig) -> dict[str, Path]:
    """Plan, run and report in one call (no progress bar); returns the written files by name."""

    plan = plan_evaluation(config)
    for _ in run_evaluation(plan):
        pass
    return write_report(plan)
