"""qdimd: Quick Draw Irregular Mask Dataset.

Irregular binary inpainting masks from real Quick, Draw! human strokes, after
Algorithm 1 of Iskakov 2018, "Semi-parametric Image Inpainting", with the mask
augmentation and hole-ratio buckets of Liu et al. 2018, "Image Inpainting for
Irregular Holes Using Partial Convolutions". Never imports torch (see
``qdimd.torch`` for the PyTorch datasets).
"""
from .buckets import DEFAULT_EDGES, border_distance, bucket_of, default_margin, group_of, hole_ratio
from .errors import InputError, Problem, ProblemLog
from .version import __version__
from .strokes.splits import split_of
from .strokes.builder import build_store
from .strokes.builder import open_strokes
from .strokes.store import STORE_SUFFIX, StrokeStore, load_default_store
from .strokes.ndjson import Drawing, read_ndjson
from .strokes.categories import CATEGORIES
from .strokes.formats import read_binary, read_sketchrnn
from .masks.generator import MaskConfig, MaskGenerator, MaskParams, hole_to_valid, render_mask, sample_mask_params
from . import augment
from .masks.augment import AugmentConfig, AugmentParams, apply_augment, sample_augment_params
from .masks.targeted import TargetedGenerator
from .sets.sorting import sort_masks


__all__ = [
    "DEFAULT_EDGES",
    "InputError",
    "Problem",
    "ProblemLog",
    "__version__",
    "border_distance",
    "bucket_of",
    "default_margin",
    "group_of",
    "hole_ratio",
    "split_of",
    # strokes and store (helper: strokes)
    "Drawing",
    "STORE_SUFFIX",
    "StrokeStore",
    "build_store",
    "load_default_store",
    "open_strokes",
    "read_ndjson",
    # download and formats (helper: download)
    "CATEGORIES",
    "read_binary",
    "read_sketchrnn",
    # generator (helper: generator)
    "MaskConfig",
    "MaskGenerator",
    "MaskParams",
    "hole_to_valid",
    "render_mask",
    "sample_mask_params",
    # augmentation, buckets, targeted (helper: buckets)
    "AugmentConfig",
    "AugmentParams",
    "TargetedGenerator",
    "apply_augment",
    "augment",
    "sample_augment_params",
    "sort_masks",
]
