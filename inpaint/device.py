"""Which torch device a command runs on: ``--device auto`` resolved once, before anything uses it.

``auto`` means CUDA (this process's GPU under ``torchrun``), else Apple's MPS, else the CPU.
Every ``inpaint`` command resolves its ``--device`` here when it parses its options, so
``torch.load(map_location=...)``, ``.to(...)`` and the saved configs only ever see a real
device (``cpu``, ``cuda:0``, ``mps``), never the word ``auto``. A bare ``cuda`` gets
its index the same way (``cuda:<local_rank>``): ``torch.cuda.set_device`` refuses a CUDA device without one.
"""
from __future__ import annotations

import contextlib

import torch


def resolve_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """The torch device a ``--device`` value names, checked to be usable here.

    Args:
        device: ``"auto"`` (CUDA, else MPS, else CPU), or ``cpu``, ``cuda`` (``cuda:<local_rank>``), ``cuda:N``, ``mps``;
            a :class:`torch.device` is checked the same way.
        local_rank: this process's GPU under ``torchrun`` (``auto`` picks ``cuda:<local_rank>``).

    Raises:
        ValueError: an unknown device, or one this machine does not have.
    """
    device = str(device)
    if device != "auto":
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"Expected a device like auto, cpu, cuda, cuda:1, mps; got {device!r} ({exc})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"Expected an available device, got {device!r}: this torch sees no CUDA GPU (use --device auto or cpu)")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"Expected a CUDA device index below {torch.cuda.device_count()}, got {device!r}")
        if dev.type == "cuda" and dev.index is None:   # plain "cuda": this process's GPU (torch.cuda.set_device needs an index)
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        mps = getattr(torch.backends, "mps", None)
        if dev.type == "mps" and not (mps is not None and mps.is_available()):
            raise ValueError(f"Expected an available device, got {device!r}: MPS is not available here (use --device auto or cpu)")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device_type: str, dtype: torch.dtype | None = None, enabled: bool = True):
    """``torch.autocast(device_type, dtype, enabled)``, where torch refuses the device type with autocast off a null context.

    torch before 2.5 raises for ``"mps"`` even with ``enabled=False`` (no MPS autocast exists there, so none
    can be active to switch off); device types autocast does not know fall back to ``"cpu"`` the same way.
    """
    try:
        return torch.autocast(device_type, dtype=dtype, enabled=enabled)
    except RuntimeError:
        if enabled:
            raise
        return contextlib.nullcontext()
