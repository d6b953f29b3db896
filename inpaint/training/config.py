"""The configuration of a training run (one field per ``inpaint train`` option) and its defaults.

Schedules from the papers: PConv (Liu et al. 2018) Adam 2e-4, batch 6, then
fine-tuning at 5e-5 with the encoder's BatchNorm frozen (``finetune``); Sim-K
(Iskakov 2018) Adam 1e-4, batch 12. Generated masks are augmented for PConv
(Liu et al. section 4.1) and not for Sim-K (Iskakov section 5.1: "We don't use
any augmentations"); ``augment_masks`` overrides either.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..nn.models import default_layer_size, list_models
from .losses import TERMS, LossWeights
from .photos import default_workers

# fields that must match between a checkpoint and a resumed run
RESUME_KEYS = ("model", "k", "width", "size", "batch_size", "lr", "seed", "finetune", "masks", "db", "images",
               "loss_weights", "augment_masks", "ema")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on; one field per ``inpaint train`` option.

    ``None`` fields take their defaults in :func:`resolve_config`: ``batch_size``, ``lr``
    (the schedules above), ``augment_masks`` (PConv yes, Sim-K no), ``workers``
    (:func:`inpaint.training.photos.default_workers`).
    """

    model: str = "pconv"
    out: str = "run"
    images: str | None = None
    db: str | None = None
    k: int = 1
    size: tuple[int, int] = (256, 256)
    width: float = 1.0
    max_steps: int = 1000
    batch_size: int | None = None
    lr: float | None = None
    finetune: bool = False
    init_from: str | None = None
    resume: bool = False
    masks: str | None = None
    hole_value: int = 255
    augment_masks: bool | None = None
    loss_weights: tuple[float, ...] = tuple(LossWeights().to_dict().values())   # valid, hole, perceptual, style, tv
    seed: int = 0
    vgg_weights: str | None = None
    allow_random_vgg: bool = False
    vgg_width: float = 1.0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    sample_every: int = 500
    val_every: int | None = None
    val_images: str | None = None
    val_masks: str | None = None
    max_bad_steps: int = 10
    ema: float | None = None
    clip_grad: float | None = None
    compile: bool = False
    workers: int | None = 0
    device: str = "auto"
    amp: bool = True
    dist_timeout: float = 3600.0   # seconds a collective waits (torchrun runs); inpaint.training.distributed.DEFAULT_DIST_TIMEOUT
    mask_kind: str = "qdimd"  # a qdimd.kinds spec (inpaint train --mask-kind), e.g. "lama-train" or "mat:0.5,qdimd:0.5"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        d["loss_weights"] = list(self.loss_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        for key in ("size", "loss_weights"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def is_simk(name: str) -> bool:
    return name.startswith("sim")


def model_kwargs(config: TrainConfig) -> dict:
    """Factory arguments of ``config.model`` (see :mod:`inpaint.nn.models`)."""
    if config.model in ("pconv256", "pconv512"):
        return {"width": config.width}
    kwargs = {"image_size": min(config.size), "width": config.width}
    if config.model == "simk":
        kwargs["k"] = config.k
    return kwargs


def _check_ranges(config: TrainConfig) -> None:
    for name in ("max_steps", "checkpoint_every", "log_every", "sample_every", "max_bad_steps"):
        if getattr(config, name) < 1:
            raise ValueError(f"Expected --{name.replace('_', '-')} >= 1, got {getattr(config, name)}")
    if config.keep_checkpoints < 0:
        raise ValueError(f"Expected --keep-checkpoints >= 0, got {config.keep_checkpoints}")
    if config.ema is not None and not 0.0 < config.ema < 1.0:
        raise ValueError(f"Expected --ema DECAY with 0 < DECAY < 1 (e.g. 0.999), got {config.ema}")
    if config.clip_grad is not None and not (config.clip_grad > 0 and math.isfinite(config.clip_grad)):
        raise ValueError(f"Expected --clip-grad NORM > 0, got {config.clip_grad}")
    if config.lr is not None and not (config.lr > 0 and math.isfinite(config.lr)):
        raise ValueError(f"Expected --lr > 0 and finite, got {config.lr}")
    if config.val_every is not None and (config.val_every < 1 or config.val_images is None):
        raise ValueError(f"Expected --val-every N >= 1 with --val-images DIR, got --val-every {config.val_every} "
                         f"and --val-images {config.val_images}")
    if config.val_masks is not None and config.val_every is None:
        raise ValueError("Expected --val-masks with --val-every N and --val-images DIR")
    if not (config.dist_timeout > 0 and math.isfinite(config.dist_timeout)):
        raise ValueError(f"Expected --dist-timeout SECONDS > 0, got {config.dist_timeout}")
    if config.workers is not None and config.workers < 0:
        raise ValueError(f"Expected --workers >= 0, got {config.workers}")


def resolve_config(config: TrainConfig) -> TrainConfig:
    """Fill the defaults (lr, batch size, mask augmentation, workers) and check option combinations up front.

    Raises:
        ValueError: a bad combination, with what was expected.
    """
    if config.model not in list_models():
        raise ValueError(f"Expected --model in {list_models()}, got {config.model!r}")
    simk = is_simk(config.model)
    if config.finetune and (simk or not config.init_from):
        raise ValueError("Expected --finetune with a PConv model and --init-from CKPT (the trained checkpoint to fine-tune)")
    if config.images is None and config.db is None:
        raise ValueError("Expected --images DIR (or --db DB for Sim-K), got neither")
    if config.db is not None and not simk:
        raise ValueError(f"Expected --db only with a Sim-K model (sim0/sim1/sim2/simk), got --model {config.model}")
    k = {"sim0": 0, "sim1": 1, "sim2": 2}.get(config.model, config.k if config.model == "simk" else 0)
    if k > 0 and config.db is None:
        raise ValueError(f"Expected --db DB with precomputed neighbours (inpaint index --topk) for {config.model} (k = {k})")
    layers = 7 if config.model == "pconv256" else 8 if config.model == "pconv512" else default_layer_size(min(config.size))
    if any(s % 2**layers for s in config.size):
        raise ValueError(f"Expected --size sides that are multiples of {2**layers} for {config.model}, got {config.size}")
    _check_ranges(config)
    from qdimd.kinds import parse_kind

    mask_kind = str(parse_kind(config.mask_kind))  # unknown kinds and bad options fail here, before any data is read
    if config.masks and mask_kind != "qdimd":
        raise ValueError(f"Expected either --masks DIR or --mask-kind, got both (--mask-kind {mask_kind})")
    weights = tuple(float(w) for w in config.loss_weights)
    if len(weights) != len(TERMS) or min(weights) < 0:
        raise ValueError(f"Expected --loss-weights with {len(TERMS)} values >= 0 ({', '.join(TERMS)}), got {config.loss_weights}")
    lr = config.lr or (1e-4 if simk else 5e-5 if config.finetune else 2e-4)
    batch = config.batch_size or (12 if simk else 6)
    augment = (not simk) if config.augment_masks is None else bool(config.augment_masks)
    workers = default_workers() if config.workers is None else config.workers
    return replace(config, k=k, lr=lr, batch_size=batch, loss_weights=weights, augment_masks=augment, workers=workers,
                   mask_kind=mask_kind)
