"""What a run is built from: the dataset, the loss with its VGG-16, the starting weights, the validation set.

Sim-K neighbours: each training photo's precomputed database candidates
(``inpaint index --topk``) without those more similar to it than
:data:`inpaint.retrieval.simk.DEFAULT_DUP_THRESHOLD`, the threshold Sim-K's
test-time retrieval uses, so the network never learns to copy a near-duplicate
it will not get at test time. Photos of a database are not header-scanned
again (they were read when indexed); one that fails to decode is replaced like
any other.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from qdimd.files.maskrules import check_polarity, sample_hole_ratios
from qdimd.errors import InputError, ProblemLog

from ..retrieval.simk import DEFAULT_DUP_THRESHOLD, default_dup_threshold  # noqa: F401 (the threshold named in the docstring)
from ..checkpoint import read_checkpoint
from .config import TrainConfig
from .data import DataConfig, InpaintDataset, training_files, training_masks, training_neighbours
from .distributed import DistInfo, Share, main_first
from .losses import InpaintingLoss, LossWeights


def _load_db(config: TrainConfig):
    from ..retrieval.database import ImageDB

    db = ImageDB.load(config.db)
    if config.k and (db.topk is None or db.topk.shape[1] < config.k):
        have = 0 if db.topk is None else db.topk.shape[1]
        raise InputError(f"{config.db}: {have} precomputed neighbours per image, need {config.k} (inpaint index --topk {config.k})")
    return db


def build_dataset(config: TrainConfig, problems: ProblemLog, out: Path, info: DistInfo) -> tuple[InpaintDataset, object]:
    """The training dataset (scans cached in ``out``, the main process first) and the database (or None)."""
    data = DataConfig(config.size, config.seed, config.masks, config.hole_value, config.augment_masks, config.k,
                      config.mask_kind)
    share = Share(info)   # the header scans split over the processes
    masks = training_masks(config.masks, problems, out / "scan-masks.json", share) if config.masks else None
    files = training_files(config.images, problems, out / "scan-images.json", share) if config.images else None
    if masks is not None:   # the same polarity rule as eval, fill and qdimd bucket --from
        check_polarity(problems, str(config.masks), sample_hole_ratios(masks, config.hole_value), config.hole_value)
    if config.db is None:
        return InpaintDataset(files, data, mask_files=masks), None
    db = _load_db(config)
    rows, kept = [], []
    for path in files if files is not None else db.files:
        row = db.index_of(path)
        if row is None:
            problems.add(str(path), None, f"not in the database {config.db}")
        else:
            rows.append(row)
            kept.append(Path(path))
    if not kept:
        raise InputError(f"{config.images}: none of the photos is in the database {config.db}")
    neighbours = training_neighbours(db.vectors, db.topk, rows, config.k, default_dup_threshold(db)) if config.k else None
    return InpaintDataset(kept, data, neighbours, db.files, mask_files=masks), db


def build_loss(config: TrainConfig, info: DistInfo, device: torch.device) -> InpaintingLoss:
    """The PConv loss with VGG-16 pool1-pool3; local rank 0 resolves the weights (download) first.

    With zero perceptual and style weights no VGG-16 is loaded or run (the pixel and TV terms only).
    """
    from ..nn.vgg import VGG16Features, load_vgg16

    weights = LossWeights(*config.loss_weights)
    if weights.perceptual == 0 and weights.style == 0:
        return InpaintingLoss(None, weights)

    with main_first(info, per_node=True):
        vgg = load_vgg16(config.vgg_weights, allow_random=config.allow_random_vgg, width=config.vgg_width,
                         progress=info.is_main)
    features = VGG16Features(vgg, ("pool1", "pool2", "pool3")).to(device)
    return InpaintingLoss(features, weights)


def init_weights(model: nn.Module, path: str) -> None:
    """Load a checkpoint's weights into ``model`` (``--init-from``): every tensor must exist with the same shape.

    Raises:
        InputError: missing, extra or differently shaped tensors (the first few named).
    """
    state = read_checkpoint(path)["state_dict"]
    mine = model.state_dict()
    wrong = [k for k in mine if k not in state or tuple(state[k].shape) != tuple(mine[k].shape)]
    wrong += [k for k in state if k not in mine]
    if wrong:
        shown = ", ".join(f"{k} {tuple(state[k].shape) if k in state else 'missing'} vs "
                          f"{tuple(mine[k].shape) if k in mine else 'missing'}" for k in wrong[:3])
        raise InputError(f"{path}: its weights do not fit this model ({len(wrong)} tensor(s) differ: {shown}); "
                         "--init-from needs the same network shape (model, width, depth)")
    model.load_state_dict(state, strict=True)


def build_val_pairs(config: TrainConfig, problems: ProblemLog, out: Path, db, info: DistInfo = DistInfo()) -> list:
    """The fixed validation set of a run (see :mod:`inpaint.training.validate`), the same in every process."""
    from .validate import build_val_set

    neighbours = None
    if config.k:
        def neighbours(path):
            row = db.index_of(path)
            if row is None:
                raise InputError(f"{path}: validation photo not in the database {config.db} (Sim-K validation uses "
                                 "its precomputed neighbours; index the validation photos too)")
            cand = training_neighbours(db.vectors, db.topk, [row], config.k, default_dup_threshold(db))[0]
            return [db.files[j] for j in cand[cand >= 0][: config.k]]

    pairs = build_val_set(config.val_images, config.size, config.seed, config.val_masks, hole_value=config.hole_value,
                          problems=problems, cache=out / "scan-val-images.json", neighbours=neighbours,
                          share=Share(info))
    if not pairs:
        raise InputError(f"{config.val_images}: no validation pair (no photo, or no mask in any bucket)")
    return pairs
