"""Public alias of :mod:`qdimd.masks.augment`: the mask augmentation of Liu et al. 2018.

Kept so that ``qdimd.augment`` (the documented path) keeps working after the move to subpackages.
"""
from .masks.augment import (
    AugmentConfig,
    AugmentParams,
    CropParams,
    DilateParams,
    FlipParams,
    RotateParams,
    apply_augment,
    apply_crop,
    apply_dilate,
    apply_flip,
    apply_rotate,
    sample_augment_params,
    sample_crop_params,
    sample_dilate_params,
    sample_flip_params,
    sample_rotate_params,
)

__all__ = [
    "AugmentConfig", "AugmentParams", "CropParams", "DilateParams", "FlipParams", "RotateParams",
    "apply_augment", "apply_crop", "apply_dilate", "apply_flip", "apply_rotate",
    "sample_augment_params", "sample_crop_params", "sample_dilate_params", "sample_flip_params", "sample_rotate_params",
]
