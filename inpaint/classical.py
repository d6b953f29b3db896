"""Public alias of :mod:`inpaint.fill.classical` (the documented ``inpaint.classical.fill_classical``)."""
from .fill.classical import METHODS, fill_classical

__all__ = ["METHODS", "fill_classical"]
