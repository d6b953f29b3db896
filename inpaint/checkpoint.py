"""Training checkpoints: one file with everything a run needs to continue exactly.

Layout (a plain dict, loadable with ``torch.load(weights_only=True)``)::

    format: "inpaint-checkpoint", version: 1
    model: factory name (inpaint.nn.models), model_kwargs: its keyword arguments
    state_dict: model weights and BatchNorm statistics
    optimizer: optimiser state dict, step: completed optimiser steps
    rng: {"torch": uint8 tensor, "cuda": [uint8 tensors]} (global torch generators)
    data_position: completed steps (older readers), config: resolved TrainConfig
    samples: training samples all processes consumed together: where the data resume
        (inpaint.training.data), whatever the number of processes then
    world_size: processes of the run that wrote it
    encoder_bn_frozen: fine-tuning flag of PConvUNet
    ema_state_dict: the EMA weights (``--ema``) or None
    best: {"step", "score"} of the best validation so far (``--val-every``) or None

Written atomically (temporary file + rename), so a killed run never leaves a
half-written checkpoint, and never with a non-finite tensor (:class:`NonFiniteError`).
A run keeps ``checkpoint.pt`` (what ``--resume`` continues), the ``keep`` newest
step-numbered copies ``checkpoints/step-NNNNNNN.pt`` and ``best.pt``
(:func:`write_checkpoint`, :func:`prune_checkpoints`).
"""
from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from qdimd.errors import InputError
from qdimd.io import atomic_write_bytes, owned_entry

from .nn.models import create_model

FORMAT = "inpaint-checkpoint"
VERSION = 1
STEP_NAME = re.compile(r"step-[0-9]{7,}\.pt")
"""Names of the step-numbered checkpoints :func:`prune_checkpoints` may delete (:func:`step_path`)."""


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel (or the model itself)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


class NonFiniteError(RuntimeError):
    """A training value (loss, gradient, weight) that is NaN or infinite where it must not be."""


def rng_state() -> dict:
    """Global torch generator states as tensors (weights_only-safe)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state`: CUDA states only for the devices present (any number of visible GPUs)."""
    torch.set_rng_state(state["torch"])
    saved = state.get("cuda") or []
    if saved and torch.cuda.is_available():
        for index, cuda_state in enumerate(saved[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def _float_tensors(value):
    if torch.is_tensor(value):
        if value.is_floating_point():
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _float_tensors(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _float_tensors(v)


def all_finite(tensors) -> bool:
    """Whether every floating tensor is finite: one reduction per device, so one wait per device (not per tensor)."""
    by_device: dict[torch.device, list[torch.Tensor]] = {}
    for t in tensors:
        if t.numel():
            by_device.setdefault(t.device, []).append(t)
    flags = [torch.stack([torch.isfinite(t).all() for t in ts]).all() for ts in by_device.values()]
    return bool(torch.stack([f.cpu() for f in flags]).all()) if flags else True


def check_finite(payload: dict) -> None:
    """Raise :class:`NonFiniteError` naming the part (weights, EMA, optimiser) that holds a non-finite value."""
    for key in ("state_dict", "ema_state_dict", "optimizer"):
        if not all_finite(_float_tensors(payload.get(key))):
            raise NonFiniteError(f"refusing to write a checkpoint with non-finite values in its {key} "
                                 f"(step {payload.get('step')})")


def checkpoint_payload(
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: dict,
    step: int,
    config: dict,
    optimizer: torch.optim.Optimizer | None = None,
    ema: nn.Module | None = None,
    best: dict | None = None,
    samples: int | None = None,
    world_size: int = 1,
) -> dict:
    """The checkpoint dict (see the module docstring); tensors copied to the CPU.

    ``samples`` defaults to ``step * batch_size * world_size`` of ``config``.
    """
    bare = unwrap(model)
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model_name,
        "model_kwargs": dict(model_kwargs),
        "state_dict": {k: v.detach().cpu() for k, v in bare.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "rng": rng_state(),
        "data_position": int(step),
        "samples": int(samples if samples is not None else step * int((config or {}).get("batch_size") or 1) * world_size),
        "world_size": int(world_size),
        "config": config,
        "encoder_bn_frozen": bool(getattr(bare, "encoder_bn_frozen", False)),
        "ema_state_dict": {k: v.detach().cpu() for k, v in ema.state_dict().items()} if ema is not None else None,
        "best": dict(best) if best else None,
    }


def write_checkpoint(paths, payload: dict) -> None:
    """Check ``payload`` (:func:`check_finite`), serialise it once and write it atomically to every path."""
    check_finite(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue(), fsync=True)  # survives a power loss, not only a kill


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **kwargs) -> None:
    """Write a checkpoint atomically; keyword arguments as :func:`checkpoint_payload` (``data_position`` is ``step``)."""
    write_checkpoint(path, checkpoint_payload(model, **kwargs))


def step_path(folder: str | os.PathLike, step: int) -> Path:
    """``folder/checkpoints/step-NNNNNNN.pt``."""
    return Path(folder) / "checkpoints" / f"step-{step:07d}.pt"


def prune_checkpoints(folder: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``checkpoints/step-*.pt`` of a run folder; returns the deleted."""
    folder = Path(folder) / "checkpoints"
    if folder.is_symlink():  # never delete through a link out of the run folder
        return []
    files = sorted(p for p in folder.glob("step-*.pt") if STEP_NAME.fullmatch(p.name) and owned_entry(folder, p))
    old = files[: max(0, len(files) - keep)]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """The raw checkpoint dict, checked.

    Raises:
        InputError: missing, corrupt, or not an inpaint checkpoint; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a PyTorch checkpoint (not a torch.save zip archive; truncated or another kind of file?)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(f"{path}: holds objects that safe loading (weights_only=True) refuses; not an inpaint checkpoint") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        what = "a plain state dict" if isinstance(payload, dict) else type(payload).__name__
        raise InputError(f"{path}: not an inpaint checkpoint (expected one written by `inpaint train`, got {what})")
    if payload.get("version") != VERSION:
        raise InputError(f"{path}: checkpoint version {payload.get('version')!r}, expected {VERSION}")
    return payload


def build_model(payload: dict, source: str = "checkpoint", *, ema: bool = False) -> nn.Module:
    """The model described by a checkpoint dict, with its weights (``ema``: its EMA weights) loaded."""
    if ema and not payload.get("ema_state_dict"):
        raise InputError(f"{source}: holds no EMA weights (train with --ema DECAY)")
    try:
        model = create_model(payload["model"], **payload["model_kwargs"])
        model.load_state_dict(payload["ema_state_dict" if ema else "state_dict"], strict=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise InputError(f"{source}: cannot rebuild model {payload.get('model')!r} ({str(exc)[:300]})") from None
    if payload.get("encoder_bn_frozen") and hasattr(model, "freeze_encoder_bn"):
        model.freeze_encoder_bn()
    return model


def load_checkpoint(path: str | os.PathLike, map_location="cpu", *, ema: bool = False) -> tuple[nn.Module, dict]:
    """Load a trained model for inference.

    Args:
        path: checkpoint written by ``inpaint train``.
        map_location: where tensors go (the model is moved there too).
        ema: load the EMA weights (``inpaint train --ema``) instead of the trained ones.

    Returns:
        ``(model, info)``: the model in eval mode; ``info`` has ``"model"`` (name),
        ``"model_kwargs"``, ``"config"`` and ``"step"``.

    Raises:
        InputError: missing, corrupt or foreign file.
    """
    payload = read_checkpoint(path, map_location)
    model = build_model(payload, str(path), ema=ema)
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        model = model.to(map_location)
    info = {k: payload.get(k) for k in ("model", "model_kwargs", "config", "step")}
    return model.eval(), info
