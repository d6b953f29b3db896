"""Sim-K two-step inpainting at test time (Iskakov 2018, "Semi-parametric Image Inpainting", Fig. 2).

1. Coarse inpainting of the query: a trained PConv (or Sim-0) model, or
   OpenCV's Telea when none is given (with a warning).
2. A descriptor of the coarse result (the database's own descriptor settings
   and PCA), its top-K database images (never the query itself: excluded by
   path, by identical file bytes and by near-duplicate similarity), then the Sim-K network fed the
   masked image, the mask and the K retrieved images, composited with the
   known pixels.

Ablation (paper section 5.6): ``aux="random"`` feeds random database images
and ``aux="noise"`` uniform noise images instead of the retrieved ones; both
skip the coarse step and the retrieval (the query is still never drawn by path).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from .database import ImageDB
from .descriptors import create_descriptor_features
from ..images import load_image

AUX_MODES = ("retrieved", "random", "noise")
DEFAULT_DUP_THRESHOLD = 0.97


def default_dup_threshold(db: ImageDB) -> float | None:
    """:data:`DEFAULT_DUP_THRESHOLD`, or None for a database of random-VGG descriptors (``--allow-random-vgg``
    smoke tests: every similarity is near 1, so a threshold would leave every image out as a near-duplicate)."""
    return None if db.config.get("vgg") == "random" else DEFAULT_DUP_THRESHOLD


def coarse_fill(image: np.ndarray, hole: np.ndarray, coarse_model=None, *, device="cpu") -> np.ndarray:
    """Step 1: ``(H, W, 3)`` uint8 coarse composite by ``coarse_model`` or, when None, Telea (warns)."""
    if coarse_model is None:
        from ..fill.classical import fill_classical

        warnings.warn("no coarse model given (--coarse): using Telea for the retrieval step", stacklevel=3)
        return fill_classical(image, hole, "telea")
    from ..fill.unet import fill_image

    return fill_image(coarse_model, image, hole, device=device)


def retrieve_neighbours(
    db: ImageDB,
    image: np.ndarray,
    k: int,
    *,
    vgg,
    query_path: str | os.PathLike | None = None,
    dup_threshold: float | None = DEFAULT_DUP_THRESHOLD,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` database ``(sims, ids)``, at most ``k`` each, for an image: Sim-K's coarse fill, or a query photo.

    Args:
        vgg: the :class:`~inpaint.nn.vgg.VGG16` the database was built with.
        query_path: the query's file; excluded when it is in the database, and so
            are byte-identical copies of it.
        dup_threshold: results above this cosine similarity count as the query itself.
    """
    features = create_descriptor_features(vgg, db.descriptor).to(device)
    query = db.describe(features, [image], device=device)
    sims, ids = db.search_file(query, k, query_path, dup_threshold=dup_threshold, device=device)
    keep = ids >= 0
    return sims[keep], ids[keep]


def _random_ids(db: ImageDB, k: int, rng: np.random.Generator, own: int | None) -> np.ndarray:
    pool = np.arange(len(db)) if own is None else np.delete(np.arange(len(db)), own)
    if len(pool) == 0:
        raise ValueError("Expected a database with at least one image other than the query, got none")
    return rng.choice(pool, size=k, replace=len(pool) < k)


def fill_simk(
    model,
    image: np.ndarray,
    hole: np.ndarray,
    db: ImageDB,
    *,
    coarse_model=None,
    k: int | None = None,
    aux: str = "retrieved",
    rng: np.random.Generator | None = None,
    vgg=None,
    query_path: str | os.PathLike | None = None,
    dup_threshold: float | None = DEFAULT_DUP_THRESHOLD,
    device="cpu",
) -> tuple[np.ndarray, list[tuple[str, float, np.ndarray]]]:
    """Inpaint ``image`` with a Sim-K model and ``K`` database images.

    Args:
        model: a :class:`~inpaint.nn.unet.SimKUNet` (``model.k`` auxiliary inputs).
        image: ``(H, W, 3)`` uint8.
        hole: ``(H, W)`` bool, True = missing.
        db: the image database (:meth:`ImageDB.load`).
        coarse_model: model for the coarse step; None = Telea with a warning.
        k: number of auxiliary images; defaults to ``model.k`` (must match it).
        aux: ``"retrieved"`` (the method), ``"random"`` or ``"noise"`` (ablation).
        rng: draws for ``"random"`` and ``"noise"`` (required there).
        vgg: the database's :class:`~inpaint.nn.vgg.VGG16` (see
            :func:`inpaint.retrieval.database.load_database_vgg`); None loads it (hub cache or
            download) on every call, so pass it when filling many images.
        query_path: the query's file, never returned as a neighbour.
        dup_threshold: retrieved images above this similarity count as the query.
        device: where the networks run.

    Returns:
        ``(composite, neighbours)``: ``(H, W, 3)`` uint8 and, per auxiliary
        image, ``(path, similarity, (H, W, 3) uint8 image)`` (``"noise"``/NaN for noise).

    Raises:
        ValueError: bad ``aux``/``k``/shapes, or no ``rng`` for random/noise.
        InputError: a database image is unreadable (the message names it).
    """
    if aux not in AUX_MODES:
        raise ValueError(f"Expected aux in {AUX_MODES}, got {aux!r}")
    model_k = getattr(model, "k", None)
    k = model_k if k is None else k
    if k is None or k < 1 or (model_k is not None and k != model_k):
        raise ValueError(f"Expected k >= 1 equal to the model's number of auxiliary images ({model_k}), got {k}")
    if image.ndim != 3 or image.shape[2] != 3 or hole.shape != image.shape[:2]:
        raise ValueError(f"Expected image (H, W, 3) and hole (H, W), got {image.shape} and {hole.shape}")
    if aux != "retrieved" and rng is None:
        raise ValueError(f"Expected an rng (np.random.Generator) for aux={aux!r}, got None")
    h, w = hole.shape
    if aux == "retrieved":
        if vgg is None:
            from .database import load_database_vgg

            vgg = load_database_vgg(db)
        coarse = coarse_fill(image, hole, coarse_model, device=device)
        sims, ids = retrieve_neighbours(db, coarse, k, vgg=vgg, query_path=query_path,
                                        dup_threshold=dup_threshold, device=device)
        if len(ids) < k:
            why = ("" if dup_threshold is None else
                   f"; images more similar than the near-duplicate threshold {dup_threshold:g} count as the query "
                   "itself and are left out: raise it with --dup-threshold (1 keeps every image)")
            raise ValueError(f"Expected {k} database images besides the query, found {len(ids)} in a database of "
                             f"{len(db)}{why}")
        neighbours = [(db.files[i], float(s), load_image(db.files[i], (h, w))) for s, i in zip(sims, ids)]
    elif aux == "random":
        ids = _random_ids(db, k, rng, db.index_of(query_path) if query_path is not None else None)
        neighbours = [(db.files[i], float("nan"), load_image(db.files[i], (h, w))) for i in ids]
    else:
        neighbours = [("noise", float("nan"), rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)) for _ in range(k)]
    from ..fill.unet import fill_image

    with torch.no_grad():
        composite = fill_image(model, image, hole, aux=[n[2] for n in neighbours], device=device)
    return composite, neighbours
