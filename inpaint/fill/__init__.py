"""Filling images: classical diffusion baselines and trained UNets on images of any size.

``fill_image`` (torch) is loaded on first use, so the OpenCV baselines work without torch.
"""
from __future__ import annotations

import importlib

from .classical import fill_classical

__all__ = ["fill_classical", "fill_image"]


def __getattr__(name: str):
    if name != "fill_image":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(".unet", __name__).fill_image
