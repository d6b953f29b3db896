"""Files for ``inpaint fill``: pairing images with masks, reading a pair (results: :func:`inpaint.images.save_image`).

A pair is an image file and a mask file of the same size. Folders pair by the
relative path without suffix (``a/b.jpg`` with ``a/b.png``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from qdimd.errors import InputError, ProblemLog
from qdimd.files.maskrules import check_polarity, sample_hole_ratios
from qdimd.io import MASK_SUFFIXES, hole_from_gray, load_gray

from ..images import OUTPUT_FORMATS, find_images, load_image


def pair_files(images: str | os.PathLike, masks: str | os.PathLike, out: str | os.PathLike, problems: ProblemLog) -> list[tuple[Path, Path, Path]]:
    """``(image, mask, output)`` triples for a file pair or a folder pair.

    Files: one triple, ``out`` is the output file. Folders: every image with a mask
    of the same relative stem; ``out`` is a folder receiving ``<relative stem>.png``;
    images without a mask go to ``problems``.

    Raises:
        InputError: missing paths, or a file mixed with a folder.
    """
    images, masks, out = Path(images), Path(masks), Path(out)
    for p in (images, masks):
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
    if images.is_file() != masks.is_file():
        raise InputError(f"Expected IMAGE and MASK both files or both folders, got {images} and {masks}")
    if images.is_file():
        if out.suffix.lower() not in OUTPUT_FORMATS:
            raise InputError(f"Expected -o with an image suffix {sorted(OUTPUT_FORMATS)}, got {out}")
        return [(images, masks, out)]
    by_stem = {p.relative_to(masks).with_suffix(""): p for p in find_images(masks, MASK_SUFFIXES)}
    triples = []
    for path in find_images(images):
        stem = path.relative_to(images).with_suffix("")
        if stem in by_stem:
            triples.append((path, by_stem[stem], out / stem.with_suffix(".png")))
        else:
            problems.add(str(path), None, f"no mask {stem}.* in {masks}")
    if not triples:
        raise InputError(f"{images}: no image has a mask of the same name in {masks}")
    for folder in sorted({t.parent for _, _, t in triples}):  # never write through a link inside -o
        for inner in [folder, *folder.parents]:
            if inner == out or out not in inner.parents:
                break
            if inner.is_symlink():
                raise InputError(f"{inner}: a symbolic link inside -o {out}; fill never writes through links "
                                 "(it could replace the file it points to): remove it")
    return triples


def check_fill_polarity(triples: list[tuple[Path, Path, Path]], masks: str | os.PathLike, hole_value: int,
                        problems: ProblemLog) -> None:
    """Warn (strict: raise) when the masks look inverted, before any image is filled
    (:func:`qdimd.files.maskrules.check_polarity` on up to 64 of them)."""
    paths = [m for _, m, _ in triples]
    check_polarity(problems, str(masks), sample_hole_ratios(paths, hole_value), hole_value)


def load_pair(image_path: str | os.PathLike, mask_path: str | os.PathLike, hole_value: int = 255) -> tuple[np.ndarray, np.ndarray]:
    """``(image (H, W, 3) uint8, hole (H, W) bool)``.

    Raises:
        InputError: unreadable file, or mask and image sizes differ.
    """
    image = load_image(image_path)
    hole = hole_from_gray(load_gray(mask_path), hole_value)
    if hole.shape != image.shape[:2]:
        raise InputError(
            f"{mask_path}: mask size {hole.shape[1]}x{hole.shape[0]} differs from image {image_path} size "
            f"{image.shape[1]}x{image.shape[0]} (W x H)"
        )
    return image, hole
