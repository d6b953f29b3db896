"""Training loop for the PConv and Sim-K UNets (``inpaint train``).

Schedules from the papers: PConv (Liu et al. 2018) Adam 2e-4, batch 6, then
fine-tuning at 5e-5 with the encoder's BatchNorm frozen (``finetune``); Sim-K
(Iskakov 2018) Adam 1e-4, batch 12. The run folder holds ``checkpoint.pt``
(written atomically every ``checkpoint_every`` steps and when the run ends,
Ctrl-C included), ``config.json``, ``log.csv`` and ``samples/``. ``resume``
continues from ``checkpoint.pt`` exactly: model, optimiser, step, torch RNG
states and the data position (one integer, see :mod:`inpaint.training.data`) are restored.

Multi-process runs (``torchrun``) use DistributedDataParallel; ``batch_size`` is
per process; rank 0 alone logs and writes checkpoints. Model initialisation
draws from a generator seeded with ``seed``; the run happens inside
``torch.random.fork_rng`` with the global generator seeded from ``seed`` (so a
random smoke-test VGG is identical in every process) and, on resume, restored
from the checkpoint; the caller's global generator is left untouched.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from qdimd.errors import InputError, ProblemLog
from qdimd.io import atomic_write_bytes

from .checkpoint import build_model, read_checkpoint, save_checkpoint, set_rng_state, unwrap
from .data import DataConfig, InpaintDataset, StepBatchSampler, scan_images, training_files, training_masks
from .distributed import DistInfo, all_reduce_mean, destroy_process_group, env_dist_info, init_process_group, resolve_device
from ..images import save_image
from .losses import TERMS, InpaintingLoss, LossWeights
from ..nn.models import create_model, default_layer_size, list_models
from .log import RunLog, render_grid
from ..nn.unet import he_init

# fields that must match between a checkpoint and a resumed run
RESUME_KEYS = ("model", "k", "width", "size", "batch_size", "lr", "seed", "finetune", "masks", "db", "images", "loss_weights")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on; one field per ``inpaint train`` option."""

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
    augment_masks: bool = True
    loss_weights: tuple[float, ...] = tuple(LossWeights().to_dict().values())   # valid, hole, perceptual, style, tv
    seed: int = 0
    vgg_weights: str | None = None
    allow_random_vgg: bool = False
    vgg_width: float = 1.0
    checkpoint_every: int = 1000
    log_every: int = 10
    sample_every: int = 500
    workers: int = 0
    device: str = "auto"
    amp: bool = True

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


def resolve_config(config: TrainConfig) -> TrainConfig:
    """Fill schedule defaults (lr, batch size) and check option combinations up front.

    Raises:
        ValueError: a bad combination, with what was expected.
    """
    if config.model not in list_models():
        raise ValueError(f"Expected --model in {list_models()}, got {config.model!r}")
    simk = is_simk(config.model)
    if config.finetune and (simk or not config.init_from):
        raise ValueError("Expected --finetune with a PConv model and --from CKPT (the trained checkpoint to fine-tune)")
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
    for name in ("max_steps", "checkpoint_every", "log_every", "sample_every"):
        if getattr(config, name) < 1:
            raise ValueError(f"Expected --{name.replace('_', '-')} >= 1, got {getattr(config, name)}")
    weights = tuple(float(w) for w in config.loss_weights)
    if len(weights) != len(TERMS) or min(weights) < 0:
        raise ValueError(f"Expected --loss-weights with {len(TERMS)} values >= 0 ({', '.join(TERMS)}), got {config.loss_weights}")
    lr = config.lr or (1e-4 if simk else 5e-5 if config.finetune else 2e-4)
    batch = config.batch_size or (12 if simk else 6)
    return replace(config, k=k, lr=lr, batch_size=batch, loss_weights=weights)


@dataclass
class TrainResult:
    """What a finished (or interrupted) run reached."""

    step: int
    losses: dict[str, float]
    model: nn.Module


def _dataset(config: TrainConfig, problems: ProblemLog) -> InpaintDataset:
    data = DataConfig(config.size, config.seed, config.masks, config.hole_value, config.augment_masks, config.k)
    masks = training_masks(config.masks, problems) if config.masks else None
    if config.db is None:
        return InpaintDataset(training_files(config.images, problems), data, mask_files=masks)
    from ..retrieval.database import ImageDB

    db = ImageDB.load(config.db)
    if config.k and (db.topk is None or db.topk.shape[1] < config.k):
        have = 0 if db.topk is None else db.topk.shape[1]
        raise InputError(f"{config.db}: {have} precomputed neighbours per image, need {config.k} (inpaint index --topk {config.k})")
    candidates = scan_images(db.files, problems) if config.images is None else training_files(config.images, problems)
    rows, files = [], []
    for path in candidates:
        row = db.index_of(path)
        if row is None:
            problems.add(str(path), None, f"not in the database {config.db}")
        else:
            rows.append(row)
            files.append(path)
    neighbours = db.topk[rows] if config.k else None
    return InpaintDataset(files, data, neighbours, db.files, mask_files=masks)


def _forward(model: nn.Module, batch: dict, device: torch.device):
    image = batch["image"].to(device, non_blocking=True)
    valid = batch["valid"].to(device, non_blocking=True)
    aux = (batch["aux"].to(device, non_blocking=True),) if "aux" in batch else ()   # Sim-K with k >= 1
    return image, valid, model(image * valid, valid, *aux)


def train(
    config: TrainConfig,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    problems: ProblemLog | None = None,
    dist_info: DistInfo | None = None,
) -> TrainResult:
    """Train until ``config.max_steps`` (see the module docstring).

    Args:
        config: the run; resolved with :func:`resolve_config`.
        on_step: called on rank 0 after every step with ``(step, losses)`` (progress bars).
        problems: collects unreadable images (skipped).
        dist_info: process layout; default from the torchrun environment.

    Raises:
        InputError, ValueError: bad inputs or option combinations.
    """
    config = resolve_config(config)
    info = dist_info or env_dist_info()
    device = resolve_device(config.device, info.local_rank)
    problems = problems if problems is not None else ProblemLog()
    init_process_group(info, device)
    try:
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            return _run(config, info, device, on_step, problems)
    finally:
        destroy_process_group()


def _run(config, info, device, on_step, problems) -> TrainResult:
    out = Path(config.out)
    ckpt_path = out / "checkpoint.pt"
    payload = None
    if ckpt_path.is_file():
        if not config.resume:
            raise InputError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another --out")
        payload = read_checkpoint(ckpt_path)
        saved = TrainConfig.from_dict(payload["config"])
        diff = [k for k in RESUME_KEYS if getattr(saved, k) != getattr(config, k)]
        if diff:
            raise InputError(f"{ckpt_path}: cannot resume with changed options {', '.join('--' + k.replace('_', '-') for k in diff)}")
    out.mkdir(parents=True, exist_ok=True)

    # the global generator (inside fork_rng) starts from the seed: a random VGG is the same in every process
    torch.set_rng_state(torch.Generator().manual_seed(config.seed).get_state())
    kwargs = model_kwargs(config)
    model = create_model(config.model, **kwargs)
    he_init(model, torch.Generator().manual_seed(config.seed))
    from ..nn.vgg import VGG16Features, load_vgg16

    vgg = load_vgg16(config.vgg_weights, allow_random=config.allow_random_vgg, width=config.vgg_width, progress=info.is_main)
    loss_fn = InpaintingLoss(VGG16Features(vgg, ("pool1", "pool2", "pool3")).to(device), LossWeights(*config.loss_weights))
    if config.init_from and payload is None:
        init = read_checkpoint(config.init_from)
        if init["model"] != config.model or init["model_kwargs"] != kwargs:
            raise InputError(f"{config.init_from}: holds {init['model']} {init['model_kwargs']}, expected {config.model} {kwargs}")
        model.load_state_dict(build_model(init, config.init_from).state_dict())
    if config.finetune:
        model.freeze_encoder_bn()
    model.to(device).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    step = 0
    if payload is not None:
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(payload["optimizer"])
        set_rng_state(payload["rng"])
        step = int(payload["data_position"])
    if info.distributed:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    dataset = _dataset(config, problems)
    sampler = StepBatchSampler(config.batch_size, step, config.max_steps, info.rank, info.world_size)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=config.workers, pin_memory=device.type == "cuda"
    )
    log = None
    if info.is_main:
        atomic_write_bytes(out / "config.json", json.dumps(config.to_dict(), indent=2).encode())
        log = RunLog(out, resume_step=step if payload is not None else None)
    amp = config.amp and device.type == "cuda"
    save = dict(model_name=config.model, model_kwargs=kwargs, config=config.to_dict())
    last_saved, losses, tick, seen = step, {}, time.perf_counter(), 0
    try:
        for batch in loader:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                image, valid, output = _forward(model, batch, device)
                terms = loss_fn(output, image, valid)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            optimizer.step()
            step += 1
            seen += image.shape[0] * info.world_size
            losses = {k: float(v.detach()) for k, v in terms.items()}
            if info.is_main and on_step is not None:
                on_step(step, losses)
            if step % config.log_every == 0 or step == config.max_steps:
                row = all_reduce_mean(losses, device)
                now = time.perf_counter()
                row.update(lr=optimizer.param_groups[0]["lr"], images_per_s=seen / max(now - tick, 1e-9))
                tick, seen = now, 0
                if log is not None:
                    log.write(step, row)
            if info.is_main and step % config.sample_every == 0:
                save_image(out / "samples" / f"step-{step:07d}.png", render_grid(image, valid, output))
            if info.is_main and step % config.checkpoint_every == 0:
                save_checkpoint(ckpt_path, model, step=step, optimizer=optimizer, **save)
                last_saved = step
    finally:
        if info.is_main and step != last_saved:
            save_checkpoint(ckpt_path, model, step=step, optimizer=optimizer, **save)
        if log is not None:
            log.close()
    return TrainResult(step, losses, unwrap(model))
