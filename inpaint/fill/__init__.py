"""Filling images: classical diffusion baselines and trained UNets on images of any size."""
from .classical import fill_classical
from .unet import fill_image

__all__ = ["fill_classical", "fill_image"]
