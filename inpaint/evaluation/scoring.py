"""The metric networks of an evaluation and the scoring of a batch of filled pairs on the eval device.

Per image: L1, PSNR and SSIM (numpy, :mod:`inpaint.evaluation.metrics`) and
LPIPS (:mod:`inpaint.evaluation.lpips`); per cell later, from what is stored
here: the Inception class probabilities (Inception score, torchvision's
network) and the pool3 features of the FID Inception (FID, P-IDS, U-IDS,
:mod:`inpaint.nn.fid_inception`) of composites and ground truths. Every
network sees the whole batch (``EvalConfig.batch_size`` pairs times the
methods), cut into forwards of ``batch_size`` images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .metrics import image_metrics
from .plan import EvalConfig

if TYPE_CHECKING:  # torch only where a metric network is loaded: L1/PSNR/SSIM of Telea run without it
    from torch import nn


@dataclass
class MetricNetworks:
    """The loaded networks an evaluation needs (None where no metric asks for one)."""

    inception: nn.Module | None = None
    fid: nn.Module | None = None
    lpips: nn.Module | None = None


def feature_dim(config: EvalConfig) -> int:
    """Length of one pool3 feature record (2048 for the real network)."""
    from ..nn.fid_inception import create_fid_inception

    return create_fid_inception(config.inception_width, device="meta").fc.in_features


def load_metric_networks(config: EvalConfig, *, progress: bool = True) -> MetricNetworks:
    """Load (or resolve to random, with ``allow_random_weights``) every network ``config.metrics`` needs.

    Raises:
        InputError: offline without a weights file (the message says where to put it), or a wrong file.
    """
    nets = MetricNetworks()
    random = config.allow_random_weights
    if config.iscore:
        from ..nn.inception import load_inception

        nets.inception = load_inception(config.inception_weights, allow_random=config.allow_random_inception or random,
                                        progress=progress, width=config.inception_width)
    if config.features:
        from ..nn.fid_inception import load_fid_inception

        nets.fid = load_fid_inception(config.fid_weights, allow_random=random, progress=progress,
                                      width=config.inception_width)
    if "lpips" in config.metrics:
        from .lpips import load_lpips

        backbone = config.alexnet_weights if config.lpips_net == "alex" else config.vgg_weights
        nets.lpips = load_lpips(config.lpips_net, weights=config.lpips_weights, backbone_weights=backbone,
                                allow_random=random, progress=progress)
    for net in (nets.inception, nets.fid, nets.lpips):
        if net is not None:
            net.to(config.device)
    return nets


@dataclass
class BatchScores:
    """Scores of ``N`` composites, each of one of ``P`` ground truths.

    Attributes:
        per_image: ``N`` dicts of the per-image metrics.
        probs: ``(N, 1000)`` float32 Inception probabilities, or None.
        fake: ``(N, D)`` float32 pool3 features of the composites, or None.
        real: ``(P, D)`` float32 pool3 features of the ground truths, or None.
    """

    per_image: list[dict[str, float]]
    probs: np.ndarray | None = None
    fake: np.ndarray | None = None
    real: np.ndarray | None = None


def score_batch(nets: MetricNetworks, config: EvalConfig, truths: np.ndarray, composites: np.ndarray,
                owner: np.ndarray) -> BatchScores:
    """Every metric of ``config`` for a batch.

    Args:
        nets: from :func:`load_metric_networks`.
        config: the evaluation (metrics, batch size, device).
        truths: ``(P, H, W, 3)`` uint8 ground truths.
        composites: ``(N, H, W, 3)`` uint8 outputs.
        owner: ``(N,)`` index into ``truths`` of each composite's ground truth.
    """
    keep = config.per_image_metrics
    numeric = [m for m in keep if m != "lpips"]
    per_image = []
    for composite, k in zip(composites, owner):
        scores = image_metrics(composite, truths[k]) if numeric else {}
        per_image.append({m: scores[m] for m in numeric})
    kw = {"batch_size": config.batch_size, "device": config.device}
    if nets.lpips is not None:
        from .lpips import lpips_scores

        for row, value in zip(per_image, lpips_scores(nets.lpips, composites, truths[owner], **kw)):
            row["lpips"] = float(value)
    out = BatchScores(per_image)
    if nets.inception is not None:
        from ..nn.inception import inception_probs

        out.probs = inception_probs(nets.inception, composites, **kw).astype(np.float32)
    if nets.fid is not None:
        from ..nn.fid_inception import fid_features

        out.fake = fid_features(nets.fid, composites, **kw)
        out.real = fid_features(nets.fid, truths, **kw)
    return out

