"""The protocol every method is scored under: outputs checked, composited with the ground truth, drift measured.

Every method's raw output is composited with the ground truth on the known
pixels before any metric (``truth * (1 - hole) + output * hole``), as Liu et
al. 2018 and LaMa (``predict.py``'s ``inpainted``) do, so that no method gains or
loses from what it does outside the hole. What it did there is still measured:
``known_drift``, the mean absolute difference between the raw output and the
ground truth over the known pixels and channels, in 0-255 grey levels (0 for a
method that keeps them, a few levels for a diffusion model's VAE round trip,
tens for an inverted mask or a prediction of another image).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qdimd.errors import InputError

DRIFT_WARNING = 10.0
"""Mean known-pixel drift (0-255) above which the log and the report warn: inverted polarity or misaligned files."""


@dataclass(frozen=True)
class Filled:
    """One method's result: its ``(H, W, 3)`` uint8 RGB output and, for Sim-K, the best retrieved image.

    ``output`` may change known pixels; the evaluation composites it (:func:`composite`).
    """

    output: np.ndarray
    retrieved: np.ndarray | None = None


@dataclass(frozen=True)
class Query:
    """What a method is told about a pair besides its pixels: the photo's path and the pair's stem."""

    path: str
    stem: str


def check_output(output, shape: tuple[int, ...], label: str, stem: str) -> np.ndarray:
    """``output`` if it is a uint8 RGB array of ``shape`` (``(H, W, 3)`` or ``(B, H, W, 3)``).

    Raises:
        InputError: another type, dtype or shape; the message names the method and the pair's stem.
    """
    if not isinstance(output, np.ndarray):
        raise InputError(f"method {label}, pair {stem}: expected a numpy array {shape} uint8 RGB, "
                         f"got {type(output).__name__}")
    if output.dtype != np.uint8 or output.shape != tuple(shape):
        raise InputError(f"method {label}, pair {stem}: expected {tuple(shape)} uint8 RGB, "
                         f"got {output.shape} {output.dtype}")
    return output


def composite(output: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8: ``output`` inside the hole, ``truth`` elsewhere."""
    return np.where(hole[..., None], output, truth)


def known_drift(output: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Mean ``|output - truth|`` over the known pixels and channels, in grey levels (0 when nothing is known)."""
    known = ~hole
    if not known.any():
        return 0.0
    diff = np.abs(output[known].astype(np.int16) - truth[known].astype(np.int16))
    return float(diff.mean())


def fill_many(method, images: list[np.ndarray], holes: list[np.ndarray], queries: list[Query]) -> list[Filled]:
    """``method`` on several pairs: its ``fill_batch`` when it has one, else one call per pair."""
    batch = getattr(method, "fill_batch", None)
    if batch is not None:
        return batch(images, holes, queries)
    return [method(image, hole, query) for image, hole, query in zip(images, holes, queries)]
