"""The plan of an ``inpaint eval`` run: its configuration, the resolved pairs, the run folder's files.

Shared by :mod:`inpaint.evaluation.evaluate` (which computes) and :mod:`inpaint.evaluation.report`
(which writes the outputs).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from qdimd.errors import InputError, ProblemLog

from .methods import MethodSpec, PredictionIndex
from .pairing import MaskEntry, Pair

PER_IMAGE = "per_image.csv"
PROBS = "inception_probs.f32"
FAKE_FEATURES = "pool3_fake.f32"
"""FID-Inception pool3 features of the composites: one float32 record per row, in row order."""
REAL_FEATURES = "pool3_real.f32"
"""pool3 features of the ground truths: record k belongs to ``plan.pairs[k]``."""
FEATURES = "features"
RUN = "run.json"
PREDICTIONS = "predictions.json"
"""Fingerprints of the folder methods' predictions whose scores the run folder holds."""
PARTS = "grid_parts"
KEY_COLUMNS = ("method", "bucket", "group", "index", "image", "mask", "hole", "known_drift")
PER_IMAGE_METRICS = ("l1", "psnr", "ssim", "lpips")
"""Metrics with a value per image (columns of ``per_image.csv``); the others are computed per cell."""
SET_METRICS = ("iscore", "fid", "pids", "uids")
FEATURE_METRICS = ("fid", "pids", "uids")
"""Metrics computed from the FID Inception's pool3 features."""
METRIC_NAMES = PER_IMAGE_METRICS + SET_METRICS
DEFAULT_METRICS = ("l1", "psnr", "ssim", "iscore")
"""The papers' Table 1."""
BINS = ("paper", "lama")
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
        metrics: names from :data:`METRIC_NAMES`, in that order.
        is_splits: Inception-score splits per (method, bucket, group).
        inception_weights: torchvision Inception-v3 state dict; None = hub cache or download.
        allow_random_inception: random Inception weights when none are given (tests only).
        inception_width: channel multiplier of both Inception networks (tests only).
        vgg_weights: VGG-16 state dict for Sim-K retrieval and the VGG LPIPS backbone.
        allow_random_vgg: accept a database built with random VGG-16 weights (tests only).
        dup_threshold: Sim-K retrieval's near-duplicate threshold; None =
            :func:`inpaint.retrieval.simk.default_dup_threshold` of each database.
        lpips_net: LPIPS backbone, ``alex`` or ``vgg``.
        fid_weights: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``; None = hub cache or download.
        lpips_weights: the lpips v0.1 linear layers of ``lpips_net``; None = the lpips package, hub cache or download.
        alexnet_weights: torchvision AlexNet state dict (LPIPS backbone).
        allow_random_weights: random weights for every metric network whose file is not given (smoke tests only).
        bins: ``paper`` (the split's buckets, N, B and both) or ``lama`` (hole area in 10% bins); report only.
        batch_size: pairs scored together; metric networks see up to this many images per forward.
        device: torch device for models.
        resize_preds: resize ``folder:`` predictions of another size to the evaluation size (bicubic)
            instead of stopping.
    """

    images: str
    masks: str
    methods: tuple[str, ...]
    out: str
    seed: int = 0
    limit: int | None = None
    size: tuple[int, int] | None = None
    hole_value: int = 255
    metrics: tuple[str, ...] = DEFAULT_METRICS
    is_splits: int = 10
    inception_weights: str | None = None
    allow_random_inception: bool = False
    inception_width: float = 1.0
    vgg_weights: str | None = None
    allow_random_vgg: bool = False
    dup_threshold: float | None = None
    lpips_net: str = "alex"
    fid_weights: str | None = None
    lpips_weights: str | None = None
    alexnet_weights: str | None = None
    allow_random_weights: bool = False
    bins: str = "paper"
    batch_size: int = 16
    device: str = "cpu"
    resize_preds: bool = False

    @property
    def iscore(self) -> bool:
        return "iscore" in self.metrics

    @property
    def features(self) -> bool:
        """True when FID, P-IDS or U-IDS need the pool3 features."""
        return any(m in self.metrics for m in FEATURE_METRICS)

    @property
    def per_image_metrics(self) -> tuple[str, ...]:
        return tuple(m for m in PER_IMAGE_METRICS if m in self.metrics)

    @property
    def per_image_columns(self) -> tuple[str, ...]:
        return KEY_COLUMNS + self.per_image_metrics

    def resume_key(self) -> dict:
        """Fields that must match for a run to continue in the same folder (``bins`` and ``batch_size`` need not)."""
        d = dataclasses.asdict(self)
        for k in ("out", "device", "bins", "batch_size"):
            d.pop(k)
        d["images"], d["masks"] = same_folder_key(self.images), same_folder_key(self.masks)
        d["methods"] = list(self.methods)
        d["metrics"] = list(self.metrics)
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
    predictions: dict[str, PredictionIndex] = dataclasses.field(default_factory=dict)
    """The checked files of each ``folder:`` method, by label."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """Warnings found while planning (JPEG or RGBA predictions, extra files), for the log and the report."""

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
        whose = "the masks' size" if self.config.size is None else "--size"
        return (f"{sum(other.values())} photo(s) ({sizes}{', ...' if len(other) > 3 else ''}) are scaled to cover "
                f"{self.size[0]}x{self.size[1]} ({whose}) and centre-cropped (bicubic){hint}")

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


def same_folder_key(path: str | os.PathLike) -> str:
    """A folder as a resumed run compares it: its real path (``img``, ``./img/`` and ``/abs/img`` are one folder)."""
    return os.path.realpath(path)


def changed_settings(previous: dict, current: dict) -> list[str]:
    """The keys whose values differ between two :meth:`EvalConfig.resume_key`; a stored ``images``/``masks`` written
    relative (before real paths were stored) is read against the current folder."""
    previous = {k: same_folder_key(v) if k in ("images", "masks") and v else v for k, v in previous.items()}
    return sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))


def check_metrics(names) -> tuple[str, ...]:
    """The metric names in :data:`METRIC_NAMES` order, duplicates dropped.

    Raises:
        ValueError: an unknown name or none at all.
    """
    names = list(names)
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown or not names:
        raise ValueError(f"Expected metrics among {', '.join(METRIC_NAMES)}; got {unknown or 'none'}")
    return tuple(m for m in METRIC_NAMES if m in names)


def input_state(config: EvalConfig, pairs: list[Pair], entries: dict[str, MaskEntry]) -> dict:
    """What a resumed run must find unchanged (``run.json``'s ``inputs``): a SHA-256 of the pairing (each pair
    with its mask's bucket, group and polarity) and the size and modification time (ns) of every paired file."""
    digest = hashlib.sha256()
    files: dict[str, list[int]] = {}
    for p in pairs:
        e = entries[p.mask]
        digest.update(f"{p.bucket}\t{p.group}\t{p.index}\t{p.image}\t{p.mask}\t{e.hole_value}\n".encode())
        for key, path in ((f"images/{p.image}", Path(config.images) / p.image), (f"masks/{p.mask}", Path(config.masks) / p.mask)):
            if key not in files:
                stat = os.stat(path)
                files[key] = [stat.st_size, stat.st_mtime_ns]
    return {"pairs": len(pairs), "pairing": digest.hexdigest(), "files": files}


def _module_file(module: str) -> str | None:
    """The source file of a ``py:`` plug-in's module, without importing it (None when it cannot be found)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.origin and os.path.isfile(spec.origin) else None


def method_state(specs: list[MethodSpec]) -> dict:
    """``{label: {file: [size, modification time (ns)]}}`` of each method's files (checkpoint, database, coarse
    model, plug-in module): ``run.json``'s ``methods``, so that rows of a model that changed are never resumed."""
    state = {}
    for spec in specs:
        paths = [p for p in (spec.checkpoint, spec.coarse) if p]
        if spec.db:
            paths += sorted(str(p) for p in Path(spec.db).iterdir() if p.is_file()) if Path(spec.db).is_dir() else []
        if spec.kind == "py" and spec.target and (origin := _module_file(spec.target.rpartition(":")[0])):
            paths.append(origin)
        stats = {path: os.stat(path) for path in paths if os.path.exists(path)}
        state[spec.label] = {path: [st.st_size, st.st_mtime_ns] for path, st in stats.items()}
    return state


def check_same_methods(out: Path, previous: dict | None, current: dict, done: set) -> None:
    """Refuse to resume a method whose scored rows came from other files (a checkpoint replaced by a training
    run that went on, an edited plug-in): its table would mix two models.

    Raises:
        InputError: names the method and the first changed file, and what to do.
    """
    for label, files in current.items():
        old = (previous or {}).get(label)
        if old is None or old == files or not any(key[0] == label for key in done):
            continue
        changed = sorted(k for k in set(old) | set(files) if old.get(k) != files.get(k))
        raise InputError(f"method {label}: {changed[0]} changed since its scores in {out} were written (size or "
                         f"modification time); resuming would mix two models in one table. Use a new --out, or "
                         f"delete {out} to start afresh")


def check_same_inputs(out: Path, previous: dict | None, current: dict, pairs: list[Pair]) -> None:
    """Refuse to resume a run whose finished rows were computed on other inputs (photos or masks added,
    removed, replaced or edited): it would mix two pairings. A run without finished rows starts afresh.

    Raises:
        InputError: names the first differing pair or file, and what to do.
    """
    path = out / PER_IMAGE
    rows = []
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    if not rows:
        return
    by_key = {(p.bucket, p.group, p.index): p for p in pairs}
    why = None
    for row in rows:
        pair = by_key.get((int(row["bucket"]), row["group"], int(row["index"])))
        if pair is None or (pair.image, pair.mask) != (row["image"], row["mask"]):
            now = "no such pair now" if pair is None else f"now {pair.image} with {pair.mask}"
            why = (f"bucket {row['bucket']} {row['group']} #{row['index']} paired {row['image']} with {row['mask']}, "
                   f"{now}")
            break
    if why is None and previous is not None and previous.get("pairing") != current["pairing"]:
        why = "the pairing differs (a mask's bucket, group or polarity changed)"
    if why is None and previous is not None:
        old, new = previous.get("files", {}), current["files"]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            why = (f"{len(changed)} paired file(s) added, removed or modified since (size or modification time), "
                   f"first {changed[0]}")
    if why is not None:
        raise InputError(f"{out}: holds {len(rows)} finished rows computed on other photos or masks ({why}); "
                         "resuming would mix two pairings. Rerun with the original --images and --masks, or use a "
                         "new --out (or delete the folder) to start afresh")
