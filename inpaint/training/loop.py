"""Training loop for the PConv and Sim-K UNets (``inpaint train``).

The run folder holds ``checkpoint.pt`` (written atomically every
``checkpoint_every`` steps and when the run ends, Ctrl-C included; what
``resume`` continues), the ``keep_checkpoints`` newest step-numbered copies in
``checkpoints/``, ``best.pt`` (the best validation score so far, with
``val_every``), ``config.json``, ``log.csv``, ``tb/``, ``samples/`` and the
header scans of the photo folders (``scan-*.json``). ``resume`` continues from
``checkpoint.pt`` exactly: model, optimiser, EMA, step, torch RNG states (CUDA
ones for the devices present) and the data position (the samples all processes
consumed together, one integer, see :mod:`inpaint.training.data`) are restored;
resumed with another number of processes, the data go on from that sample.

Steps never wait for the device (:mod:`inpaint.training.step`); every
``log_every`` steps the interval's means are read, logged and checked: after
``max_bad_steps`` consecutive skipped non-finite steps the run stops with
:class:`~inpaint.checkpoint.NonFiniteError` (no checkpoint is written
then, and none ever holds a non-finite value).

Multi-process runs (``torchrun``, one process included) use DistributedDataParallel;
``batch_size`` is per process; every process scores a share of the validation
pairs; rank 0 alone logs and writes checkpoints. Model
initialisation draws from a generator seeded with ``seed``; the run happens
inside ``torch.random.fork_rng`` with the global generator seeded from ``seed``
(so a random smoke-test VGG is identical in every process) and, on resume,
restored from the checkpoint; the caller's global generator is left untouched.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from qdimd.errors import InputError, ProblemLog
from qdimd.io import atomic_write_bytes

from ..images import save_image
from ..nn.models import create_model
from ..nn.unet import he_init
from .batches import make_loader
from .build import build_dataset, build_loss, build_val_pairs, init_weights
from ..checkpoint import (NonFiniteError, checkpoint_payload, prune_checkpoints, read_checkpoint, set_rng_state, step_path,
                         unwrap, write_checkpoint)
from .config import RESUME_KEYS, TrainConfig, is_simk, model_kwargs, resolve_config
from .data import StepBatchSampler
from .distributed import DistInfo, Share, destroy_process_group, env_dist_info, init_process_group, resolve_device
from .log import RunLog, render_grid
from .step import KEYS, Ema, Stepper, make_optimizer

__all__ = ["TrainConfig", "TrainResult", "is_simk", "model_kwargs", "resolve_config", "train"]


@dataclass
class TrainResult:
    """What a finished (or interrupted) run reached: ``losses`` are the last logged interval means."""

    step: int
    losses: dict[str, float]
    model: nn.Module
    ema: nn.Module | None = None
    best: dict | None = None


def train(
    config: TrainConfig,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    problems: ProblemLog | None = None,
    dist_info: DistInfo | None = None,
) -> TrainResult:
    """Train until ``config.max_steps`` (see the module docstring).

    Args:
        config: the run; resolved with :func:`resolve_config`.
        on_step: called on rank 0 after every step with ``(step, losses)``, ``losses`` being the
            means of the last logged interval (empty before the first row): reading the
            current step's values would stall the device.
        problems: collects unreadable images (skipped).
        dist_info: process layout; default from the torchrun environment.

    Raises:
        InputError, ValueError: bad inputs or option combinations.
        NonFiniteError: ``max_bad_steps`` consecutive steps with a non-finite loss or gradient.
    """
    config = resolve_config(config)
    info = dist_info or env_dist_info()
    device = resolve_device(config.device, info.local_rank)
    problems = problems if problems is not None else ProblemLog()
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    if device.type == "cuda":
        torch.cuda.set_device(device)
    benchmark = torch.backends.cudnn.benchmark
    init_process_group(info, device, config.dist_timeout)
    try:
        torch.backends.cudnn.benchmark = device.type == "cuda" or benchmark
        with torch.random.fork_rng(devices=cuda):
            return _run(config, info, device, on_step, problems)
    finally:
        torch.backends.cudnn.benchmark = benchmark
        destroy_process_group()


def _check_run_folder(out: Path) -> None:
    """Refuse an ``--out`` that holds files and is not a run folder: a run writes config.json, log.csv, ... there;
    and a run folder whose ``samples/``, ``tb/`` or ``checkpoints/`` is a link (never written through)."""
    linked = [name for name in ("samples", "tb", "checkpoints") if (out / name).is_symlink()]
    if linked:
        raise InputError(f"{out / linked[0]}: a symbolic link where a run keeps its own folder; it never writes "
                         "through links: remove it")
    if not out.is_dir() or (out / "checkpoint.pt").is_file():
        return
    try:
        saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    if isinstance(saved, dict) and {"model", "max_steps"} <= set(saved):
        return  # a run stopped before its first checkpoint
    foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith((".", "scan-")))
    if foreign:
        raise InputError(f"{out}: not empty and not a training run folder (it holds {foreign[0]!r}, no checkpoint.pt "
                         "or training config.json), whose files a run would replace; choose a new or empty --out")


def _setting(key: str, value):
    """A resume setting as compared: folders by real path (``img``, ``./img/`` and ``/abs/img`` are one folder)."""
    return os.path.realpath(value) if key in ("images", "masks", "db") and value else value


def _resume_payload(config: TrainConfig, ckpt_path: Path) -> dict | None:
    _check_run_folder(ckpt_path.parent)
    if not ckpt_path.is_file():
        return None
    if not config.resume:
        raise InputError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another --out")
    payload = read_checkpoint(ckpt_path)
    saved = TrainConfig.from_dict(payload["config"])
    diff = [k for k in RESUME_KEYS if _setting(k, getattr(saved, k)) != _setting(k, getattr(config, k))]
    if diff:
        raise InputError(f"{ckpt_path}: cannot resume with changed options {', '.join('--' + k.replace('_', '-') for k in diff)}")
    return payload


def _validate(net: nn.Module, pairs: list, device: torch.device, batch_size: int, amp: bool, info: DistInfo) -> dict:
    """Validation scores, each process scoring a share of ``pairs`` (the same BatchNorm statistics: rank 0's)."""
    from .validate import score_rows, summarize

    share = Share(info)
    if share.active:
        for buffer in net.buffers():
            torch.distributed.broadcast(buffer, 0)
    return summarize(share.gather(score_rows(net, share.part(pairs), device, batch_size=batch_size, amp=amp)))


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict, fused: bool) -> None:
    """Load a saved Adam state whatever device wrote it: the fused/foreach flags follow this device."""
    for group in state["param_groups"]:
        group["fused"], group["foreach"] = fused, None if fused else group.get("foreach")
    optimizer.load_state_dict(state)


def _run(config: TrainConfig, info: DistInfo, device: torch.device, on_step, problems: ProblemLog) -> TrainResult:
    out = Path(config.out)
    ckpt_path = out / "checkpoint.pt"
    payload = _resume_payload(config, ckpt_path)
    out.mkdir(parents=True, exist_ok=True)

    # the global generator (inside fork_rng) starts from the seed: a random VGG is the same in every process
    torch.set_rng_state(torch.Generator().manual_seed(config.seed).get_state())
    kwargs = model_kwargs(config)
    model = create_model(config.model, **kwargs)
    he_init(model, torch.Generator().manual_seed(config.seed))
    loss_fn = build_loss(config, info, device)
    if config.init_from and payload is None:
        init_weights(model, config.init_from)
    if config.finetune:
        model.freeze_encoder_bn()
    channels_last = device.type == "cuda"
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
        loss_fn.to(memory_format=torch.channels_last)
    optimizer, fused = make_optimizer((p for p in model.parameters() if p.requires_grad), config.lr, device)
    ema = Ema(model, config.ema) if config.ema else None
    step, best, samples = 0, None, 0
    if payload is not None:
        model.load_state_dict(payload["state_dict"])
        _load_optimizer(optimizer, payload["optimizer"], fused)
        if ema is not None:
            ema.module.load_state_dict(payload["ema_state_dict"])
        set_rng_state(payload["rng"])
        step, best = int(payload["data_position"]), payload.get("best")
        samples = int(payload.get("samples", step * config.batch_size * payload.get("world_size", info.world_size)))
    forward = model
    if info.distributed:
        forward = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if config.compile:
        forward, loss_fn = torch.compile(forward), torch.compile(loss_fn)
    stepper = Stepper(forward, model, loss_fn, optimizer, fused, device, amp=config.amp and device.type == "cuda",
                      channels_last=channels_last, clip_grad=config.clip_grad, ema=ema)

    dataset, db = build_dataset(config, problems, out, info)
    pairs = build_val_pairs(config, problems, out, db, info) if config.val_every else []
    sampler = StepBatchSampler(config.batch_size, step, config.max_steps, info.rank, info.world_size, samples)
    loader = make_loader(dataset, sampler, config.workers, device)
    log = None
    if info.is_main:
        from .validate import columns

        atomic_write_bytes(out / "config.json", json.dumps(config.to_dict(), indent=2).encode())
        log = RunLog(out, resume_step=step if payload is not None else None, extra=tuple(columns(pairs)) if pairs else ())
    save = dict(model_name=config.model, model_kwargs=kwargs, config=config.to_dict(), optimizer=optimizer,
                world_size=info.world_size)

    def checkpoint(paths):
        write_checkpoint(paths, checkpoint_payload(model, step=step, ema=ema.module if ema else None, best=best,
                                                   samples=samples, **save))

    last_saved, latest, tick, seen, diverged = step, {}, time.perf_counter(), 0, False
    try:
        for batch in loader:
            image, valid, output = stepper.step(batch)
            step += 1
            seen += image.shape[0] * info.world_size
            samples += config.batch_size * info.world_size
            row = {"samples": samples}
            if step % config.log_every == 0 or step == config.max_steps:
                stats = stepper.read()
                diverged = stats["bad_streak"] >= config.max_bad_steps
                now = time.perf_counter()
                row.update(stats, lr=optimizer.param_groups[0]["lr"], images_per_s=seen / max(now - tick, 1e-9))
                tick, seen = now, 0
                latest = {k: stats[k] for k in KEYS}
            if pairs and step % config.val_every == 0 and not diverged:
                from .validate import BEST_KEY

                row.update(_validate(ema.module if ema else model, pairs, device, config.batch_size, stepper.amp, info))
                if best is None or row[BEST_KEY] < best["score"]:
                    best = {"step": step, "score": row[BEST_KEY], "metric": BEST_KEY}
                    if info.is_main:
                        checkpoint([out / "best.pt"])
            if log is not None and len(row) > 1:
                log.write(step, row)
            if diverged:
                kept = (f"{ckpt_path} (step {last_saved}) is unchanged" if ckpt_path.is_file()
                        else "no checkpoint was written")   # a run that diverges before its first checkpoint
                raise NonFiniteError(
                    f"stopped at step {step}: {stats['bad_streak']} consecutive steps with a non-finite loss or "
                    f"gradient (--max-bad-steps {config.max_bad_steps}); they were skipped and {kept}; "
                    "lower --lr or add --clip-grad")
            if info.is_main and on_step is not None:
                on_step(step, latest)
            if info.is_main and step % config.sample_every == 0:
                save_image(out / "samples" / f"step-{step:07d}.png", render_grid(image, valid, output))
            if info.is_main and step % config.checkpoint_every == 0:
                checkpoint([ckpt_path] + ([step_path(out, step)] if config.keep_checkpoints else []))
                prune_checkpoints(out, config.keep_checkpoints)
                last_saved = step
    except NonFiniteError:
        diverged = True
        raise
    finally:
        if info.is_main and step != last_saved and not diverged:
            checkpoint([ckpt_path])
        if log is not None:
            log.close()
    return TrainResult(step, latest, unwrap(model), ema.module if ema else None, best)
