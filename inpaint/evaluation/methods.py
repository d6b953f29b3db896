"""Inpainting methods by name for evaluation: ``identity``, ``telea``, ``ns``, ``pconv:CKPT``, ``sim0:CKPT``, ``simk:CKPT:DB[:COARSE]``.

A method spec is ``[LABEL=]KIND[:ARGS]``; the label names the method in the
report (default: the kind, or ``KIND:<checkpoint file stem>``).

- ``identity``: the floor; known pixels kept, every hole pixel set to the
  per-channel mean of the known pixels of that image (mid-grey 128 when no
  pixel is known).
- ``telea``, ``ns``: OpenCV's Telea and Navier-Stokes diffusion, radius 5
  (:func:`inpaint.fill.classical.fill_classical`).
- ``pconv:CKPT``, ``sim0:CKPT``: a trained checkpoint run by :func:`inpaint.fill.unet.fill_image`.
- ``simk:CKPT:DB[:COARSE]``: Sim-K with two-step retrieval from the image
  database ``DB`` (:func:`inpaint.retrieval.simk.fill_simk`); ``COARSE`` is the PConv
  checkpoint for the coarse pass (Telea when left out). The best retrieved
  image is kept for the report's grid.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from qdimd.errors import InputError

KINDS: dict[str, str] = {
    "identity": "identity",
    "telea": "telea",
    "ns": "ns",
    "pconv": "pconv:CKPT",
    "sim0": "sim0:CKPT",
    "simk": "simk:CKPT:DB[:COARSE]",
}
_N_ARGS = {"identity": (0, 0), "telea": (0, 0), "ns": (0, 0), "pconv": (1, 1), "sim0": (1, 1), "simk": (2, 3)}


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method: ``kind`` from :data:`KINDS`, with its files."""

    label: str
    kind: str
    checkpoint: str | None = None
    db: str | None = None
    coarse: str | None = None


@dataclass(frozen=True)
class Filled:
    """One method's result: the ``(H, W, 3)`` uint8 composite and, for Sim-K, the best retrieved image."""

    composite: np.ndarray
    retrieved: np.ndarray | None = None


Method = Callable[[np.ndarray, np.ndarray, str], Filled]
"""``method(image (H, W, 3) uint8, hole (H, W) bool, image_path) -> Filled``."""


def _choices() -> str:
    return ", ".join(KINDS.values())


def parse_method(text: str) -> MethodSpec:
    """Parse ``[LABEL=]KIND[:ARGS]`` and check that its files exist.

    Raises:
        ValueError: unknown kind or wrong number of arguments (the message lists the choices).
        InputError: a named checkpoint or database is missing.
    """
    label, sep, body = text.partition("=")
    if not sep:
        label, body = "", text
    kind, *args = body.split(":")
    if kind not in KINDS:
        raise ValueError(f"Expected a method among {_choices()}; got {text!r}")
    lo, hi = _N_ARGS[kind]
    if not lo <= len(args) <= hi or any(not a for a in args):
        raise ValueError(f"Expected method {KINDS[kind]}, got {text!r}")
    for what, path in zip(("checkpoint", "database", "coarse checkpoint"), args):
        if not Path(path).exists():
            raise InputError(f"method {text!r}: {what} {path}: no such file")
    if not label:
        label = kind if not args else f"{kind}:{Path(args[0]).stem}"
    return MethodSpec(label, kind, *args)


def parse_methods(texts: tuple[str, ...] | list[str]) -> list[MethodSpec]:
    """Parse several specs; labels must be unique (name them ``LABEL=SPEC`` otherwise)."""
    if not texts:
        raise ValueError(f"Expected at least one method among {_choices()}; got none")
    specs = [parse_method(t) for t in texts]
    labels = [s.label for s in specs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"Expected distinct method labels, got {dupes} twice; name them LABEL=SPEC")
    return specs


def fill_identity(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The floor: hole pixels set to the per-channel mean of the known pixels (rounded).

    Args:
        image: ``(H, W, 3)`` uint8.
        hole: ``(H, W)`` bool, True = missing.

    Returns:
        ``(H, W, 3)`` uint8.
    """
    if image.ndim != 3 or hole.shape != image.shape[:2]:
        raise ValueError(f"Expected image (H, W, 3) and hole (H, W), got {image.shape} and {hole.shape}")
    out = image.copy()
    known = image[~hole]
    fill = np.rint(known.mean(axis=0)).astype(np.uint8) if len(known) else np.full(3, 128, np.uint8)
    out[hole] = fill
    return out


def load_method(
    spec: MethodSpec, *, device: str = "cpu", vgg_weights: str | os.PathLike | None = None, allow_random_vgg: bool = False,
    dup_threshold: float | None = None,
) -> Method:
    """A callable for ``spec``; checkpoints, databases and VGG-16 are loaded once, here."""
    if spec.kind == "identity":
        return lambda image, hole, path: Filled(fill_identity(image, hole))
    if spec.kind in ("telea", "ns"):
        from ..fill.classical import fill_classical

        return lambda image, hole, path: Filled(fill_classical(image, hole, spec.kind))
    from ..device import resolve_device
    from ..checkpoint import load_checkpoint
    from ..fill.unet import fill_image

    device = resolve_device(device)  # "auto" never reaches torch.load's map_location
    model, _info = load_checkpoint(spec.checkpoint, map_location=device)
    if spec.kind in ("pconv", "sim0"):
        return lambda image, hole, path: Filled(fill_image(model, image, hole, device=device))
    from ..retrieval.database import ImageDB, load_database_vgg
    from ..retrieval.simk import default_dup_threshold, fill_simk

    db = ImageDB.load(spec.db)
    coarse = load_checkpoint(spec.coarse, map_location=device)[0] if spec.coarse else None
    vgg = load_database_vgg(db, vgg_weights, allow_random=allow_random_vgg)
    threshold = default_dup_threshold(db) if dup_threshold is None else dup_threshold

    def run_simk(image: np.ndarray, hole: np.ndarray, path: str) -> Filled:
        composite, neighbours = fill_simk(
            model, image, hole, db, coarse_model=coarse, vgg=vgg, query_path=path, dup_threshold=threshold, device=device
        )
        return Filled(composite, neighbours[0][2] if neighbours else None)

    return run_simk
