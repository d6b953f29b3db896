"""Classical diffusion baselines: OpenCV's Telea (2004) and Navier-Stokes (Bertalmio 2001) inpainting.

No learning and no checkpoint; the baselines the PConv paper compares against.
"""
from __future__ import annotations

import cv2
import numpy as np

METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def fill_classical(image: np.ndarray, hole: np.ndarray, method: str = "telea", radius: int = 5) -> np.ndarray:
    """Inpaint the hole pixels of ``image`` with OpenCV.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        hole: ``(H, W)`` bool, True = missing.
        method: ``"telea"`` or ``"ns"``.
        radius: neighbourhood radius in pixels considered around each hole pixel.

    Returns:
        ``(H, W, 3)`` uint8; known pixels are returned unchanged.

    Raises:
        ValueError: bad shapes, dtypes, method or radius.
    """
    if method not in METHODS:
        raise ValueError(f"Expected method in {sorted(METHODS)}, got {method!r}")
    image = np.asarray(image)
    hole = np.asarray(hole)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"Expected image of shape (H, W, 3) and dtype uint8, got {image.shape} {image.dtype}")
    if hole.shape != image.shape[:2]:
        raise ValueError(f"Expected hole of shape {image.shape[:2]} (the image's H, W), got {hole.shape}")
    if hole.dtype != np.bool_:
        raise ValueError(f"Expected hole of dtype bool (True = missing), got {hole.dtype}")
    if int(radius) < 1:
        raise ValueError(f"Expected radius >= 1, got {radius!r}")
    if not hole.any():
        return image.copy()
    hole_u8 = hole.astype(np.uint8) * np.uint8(255)
    out = cv2.inpaint(np.ascontiguousarray(image), hole_u8, float(radius), METHODS[method])
    out[~hole] = image[~hole]
    return out
