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
- ``folder:DIR``: predictions written by another tool (:mod:`inpaint.evaluation.methods.folder`).
- ``py:MODULE:FUNCTION`` or the name of an ``inpaint.methods`` entry point: a
  Python callable (:mod:`inpaint.evaluation.methods.plugin`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from qdimd.errors import InputError

from .folder import FolderMethod, PredictionIndex
from .plugin import PluginMethod, entry_point_names, resolve_callable
from .protocol import Filled, Query

KINDS: dict[str, str] = {
    "identity": "identity",
    "telea": "telea",
    "ns": "ns",
    "pconv": "pconv:CKPT",
    "sim0": "sim0:CKPT",
    "simk": "simk:CKPT:DB[:COARSE]",
    "folder": "folder:DIR",
    "py": "py:MODULE:FUNCTION",
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
    target: str | None = None
    """The prediction folder (``folder``), ``MODULE:FUNCTION`` (``py``) or entry-point name (``entry``)."""


Method = Callable[[np.ndarray, np.ndarray, Query], Filled]
"""``method(image (H, W, 3) uint8, hole (H, W) bool, query) -> Filled``; may also have ``fill_batch``."""


def _choices() -> str:
    names = entry_point_names()
    return ", ".join(KINDS.values()) + (f", or an inpaint.methods entry point ({', '.join(names)})" if names else "")


def _parse_external(text: str, label: str, kind: str, rest: str) -> MethodSpec | None:
    """``folder:DIR``, ``py:MODULE:FUNCTION`` or an entry-point name; None for the other kinds."""
    if kind == "folder":
        if not rest:
            raise ValueError(f"Expected method folder:DIR, got {text!r}")
        if not Path(rest).is_dir():
            raise InputError(f"method {text!r}: prediction folder {rest}: no such folder")
        return MethodSpec(label or f"folder:{Path(rest).name}", "folder", target=rest)
    if kind == "py":
        module, _, function = rest.rpartition(":")
        if not module or not function or ":" in module:
            raise ValueError(f"Expected method py:MODULE:FUNCTION (e.g. py:mypkg.eval:inpaint), got {text!r}")
        return MethodSpec(label or f"py:{function}", "py", target=rest)
    if kind not in KINDS and not rest and kind in entry_point_names():
        return MethodSpec(label or kind, "entry", target=kind)
    return None


def parse_method(text: str) -> MethodSpec:
    """Parse ``[LABEL=]KIND[:ARGS]`` and check that its files exist.

    Raises:
        ValueError: unknown kind or wrong number of arguments (the message lists the choices).
        InputError: a named checkpoint or database is missing.
    """
    label, sep, body = text.partition("=")
    if not sep:
        label, body = "", text
    external = _parse_external(text, label, *body.partition(":")[::2])
    if external is not None:
        return external
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
    predictions: PredictionIndex | None = None,
    dup_threshold: float | None = None,
) -> Method:
    """A callable for ``spec``; checkpoints, databases, VGG-16 and plug-ins are loaded once, here.

    Args:
        predictions: the checked files of a ``folder`` method
            (:func:`inpaint.evaluation.methods.folder.index_predictions`).

    Raises:
        InputError: a plug-in that cannot be imported or found; a folder method without its index.
    """
    if spec.kind == "identity":
        return lambda image, hole, query: Filled(fill_identity(image, hole))
    if spec.kind in ("telea", "ns"):
        from ...fill.classical import fill_classical

        return lambda image, hole, query: Filled(fill_classical(image, hole, spec.kind))
    if spec.kind == "folder":
        if predictions is None:
            raise ValueError(f"Expected the prediction index of folder method {spec.label}")
        return FolderMethod(predictions)
    if spec.kind in ("py", "entry"):
        return PluginMethod(spec.label, resolve_callable(spec.label, spec.target))
    from ...device import resolve_device
    from ...checkpoint import load_checkpoint
    from ...fill.unet import fill_image

    device = resolve_device(device)  # "auto" never reaches torch.load's map_location
    model, _info = load_checkpoint(spec.checkpoint, map_location=device)
    if spec.kind in ("pconv", "sim0"):
        return lambda image, hole, query: Filled(fill_image(model, image, hole, device=device))
    from ...retrieval.database import ImageDB, load_database_vgg
    from ...retrieval.simk import default_dup_threshold, fill_simk

    db = ImageDB.load(spec.db)
    coarse = load_checkpoint(spec.coarse, map_location=device)[0] if spec.coarse else None
    vgg = load_database_vgg(db, vgg_weights, allow_random=allow_random_vgg)
    threshold = default_dup_threshold(db) if dup_threshold is None else dup_threshold

    def run_simk(image: np.ndarray, hole: np.ndarray, query: Query) -> Filled:
        composite, neighbours = fill_simk(
            model, image, hole, db, coarse_model=coarse, vgg=vgg, query_path=query.path, dup_threshold=threshold,
            device=device
        )
        return Filled(composite, neighbours[0][2] if neighbours else None)

    return run_simk
