"""inpaint: partial-convolution (Liu et al. 2018) and Sim-K (Iskakov 2018) inpainting.

Trains and runs the models that consume QD-IMD masks, retrieves similar images
by VGG-16 features, and evaluates methods per hole-ratio bucket.

Public names are loaded on first use (PEP 562), so that ``inpaint.images``,
``inpaint.fill.classical`` and the Telea/NS baselines of ``inpaint fill`` and
``inpaint eval`` work where torch is not installed.
"""
from __future__ import annotations

import importlib

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(('fill_classical',), "fill.classical"),
    **dict.fromkeys(('create_model', 'list_models'), "nn.models"),
    **dict.fromkeys(('PartialConv2d', 'partial_conv2d'), "nn.pconv"),
    **dict.fromkeys(('PConvUNet', 'SimKUNet'), "nn.unet"),
    **dict.fromkeys(('VGG16', 'VGG16Features', 'imagenet_normalize', 'load_vgg16'), "nn.vgg"),
    **dict.fromkeys(('ImageDB', 'build_database', 'load_database_vgg'), "retrieval.database"),
    **dict.fromkeys(('DescriptorConfig',), "retrieval.descriptors"),
    **dict.fromkeys(('FaissConfig', 'build_faiss_index', 'precompute_topk', 'search_exact', 'search_faiss'), "retrieval.search"),
    **dict.fromkeys(('fill_simk',), "retrieval.simk"),
    **dict.fromkeys(('aggregate', 'image_metrics', 'l1_percent', 'psnr', 'ssim'), "evaluation.metrics"),
    **dict.fromkeys(('Inception3', 'inception_probs', 'inception_score', 'load_inception'), "nn.inception"),
    **dict.fromkeys(('EvalConfig', 'evaluate_methods'), "evaluation.evaluate"),
    **dict.fromkeys(('fid_from_features',), "evaluation.fid"),
    **dict.fromkeys(('discriminative_scores',), "evaluation.ids"),
    **dict.fromkeys(('load_lpips', 'lpips_scores'), "evaluation.lpips"),
    **dict.fromkeys(('fid_features', 'load_fid_inception'), "nn.fid_inception"),
}
"""Public name -> the submodule that defines it."""

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
