"""Public alias of :mod:`inpaint.training.checkpoint` (the documented ``inpaint.checkpoint.load_checkpoint``)."""
from .training.checkpoint import build_model, load_checkpoint, read_checkpoint, save_checkpoint

__all__ = ["build_model", "load_checkpoint", "read_checkpoint", "save_checkpoint"]
