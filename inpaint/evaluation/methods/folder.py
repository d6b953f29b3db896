"""``NAME=folder:DIR``: predictions another tool wrote, one file per pair, scored like any method.

Pair ``<stem>`` (:func:`inpaint.evaluation.pairing.pair_stem`, as ``inpaint pairs`` writes
it) is predicted by ``DIR/<stem>_mask000.png`` (LaMa's ``bin/predict.py`` names
its output after the mask), else ``DIR/<stem>.png`` (IOPaint, MAT and most
tools name it after the image); ``.jpg`` / ``.jpeg`` are accepted with a warning,
since JPEG's loss alone moves FID.

Every prediction of the run's pairs is checked before any pair is scored, from
the file headers (:func:`index_predictions`): a missing or unreadable file, a
grey or 16-bit image, or another size than the evaluation's (unless
``resize=True``, bicubic, recorded in ``results.json``) stops the run naming the
method and the pair's stem. RGB and palette images are used as RGB; RGBA has its
alpha dropped (not blended) with a warning. Files that predict no pair of the
run are reported (another split, seed or ``--limit``?), never read.

The index also fingerprints the predictions (file name, size and mtime per
stem), which ``inpaint eval`` stores beside the scores so that a resumed run
notices predictions that changed since their scores were written.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from qdimd.errors import InputError
from qdimd.files.imagefile import open_image

from .protocol import Filled, Query

NAMES = ("{stem}_mask000.png", "{stem}.png", "{stem}_mask000.jpg", "{stem}.jpg", "{stem}_mask000.jpeg", "{stem}.jpeg")
"""Candidate files of a pair's prediction, first found wins."""
RGB_MODES = {"RGB": None, "P": None, "RGBA": "alpha dropped", "RGBX": None, "CMYK": None}
"""Accepted PIL modes (converted to RGB at read) and the warning they get."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SHOWN = 5


@dataclass
class PredictionIndex:
    """The checked prediction files of one folder method.

    Attributes:
        label: the method's label.
        root: the folder.
        files: ``stem -> file`` for every pair of the run.
        resize: predictions of another size are resized to ``size`` (bicubic).
        size: ``(H, W)`` evaluation size.
        listing: ``stem -> [file name, bytes, mtime_ns]`` (the fingerprint).
        notes: warnings for the log and the report.
    """

    label: str
    root: Path
    files: dict[str, Path]
    resize: bool
    size: tuple[int, int]
    listing: dict[str, list] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """SHA-256 of the listing (names, sizes, mtimes) in stem order."""
        h = hashlib.sha256()
        for stem in sorted(self.listing):
            h.update(repr((stem, *self.listing[stem])).encode())
        return h.hexdigest()


def _examples(items) -> str:
    items = list(items)
    return ", ".join(items[:SHOWN]) + (f", ... ({len(items)} in all)" if len(items) > SHOWN else "")


def index_predictions(label: str, root: str | os.PathLike, stems: list[str], size: tuple[int, int], *,
                      resize: bool = False) -> PredictionIndex:
    """Find and check (headers only) the prediction of every stem in ``root``.

    Raises:
        InputError: a missing folder, missing or unreadable predictions, grey or
            16-bit ones, or another size without ``resize``; the message names the
            method and the stems.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"method {label}: prediction folder {root}: no such folder")
    entries = {e.name: e for e in os.scandir(root) if e.is_file()}
    files, listing, missing = {}, {}, []
    for stem in stems:
        name = next((n.format(stem=stem) for n in NAMES if n.format(stem=stem) in entries), None)
        if name is None:
            missing.append(stem)
            continue
        st = entries[name].stat()
        files[stem], listing[stem] = root / name, [name, st.st_size, st.st_mtime_ns]
    if missing:
        raise InputError(f"method {label}: {len(missing)} of {len(stems)} predictions missing in {root} "
                         f"(expected <stem>_mask000.png or <stem>.png; `inpaint pairs` lists the stems: score with the --seed, "
                         f"--size and --limit of its config.json): "
                         f"{_examples(missing)}")
    index = PredictionIndex(label, root, files, resize, tuple(size), listing)
    warned: dict[str, list[str]] = {}
    for stem, path in files.items():
        with open_image(path, f"method {label}, pair {stem}: {path}") as im:
            mode, (w, h) = im.mode, im.size
        if mode not in RGB_MODES:
            raise InputError(f"method {label}, pair {stem}: {path}: expected an RGB image, got mode {mode} "
                             "(grey or 16-bit); save the prediction as 8-bit RGB")
        if (h, w) != tuple(size) and not resize:
            raise InputError(f"method {label}, pair {stem}: {path} is {h}x{w}, the evaluation size is "
                             f"{size[0]}x{size[1]}; score with the --size of `inpaint pairs` (its config.json), or pass "
                             "--resize-preds to resize predictions (bicubic, recorded)")
        if RGB_MODES[mode]:
            warned.setdefault(f"are {mode} ({RGB_MODES[mode]})", []).append(stem)
        if path.suffix.lower() in (".jpg", ".jpeg"):
            warned.setdefault("are JPEG: JPEG's loss alone moves FID and LPIPS; save PNG", []).append(stem)
        if (h, w) != tuple(size):
            warned.setdefault(f"are not {size[0]}x{size[1]} and are resized (bicubic)", []).append(stem)
    index.notes += [f"method {label}: {len(s)} prediction(s) {what}: {_examples(s)}" for what, s in warned.items()]
    used = {p.name for p in files.values()}
    extra = sorted(n for n in entries if n not in used and Path(n).suffix.lower() in IMAGE_SUFFIXES)
    if extra:
        index.notes.append(f"method {label}: {len(extra)} image file(s) in {root} predict no pair of this run "
                           f"(another split, seed or --limit?), not read: {_examples(extra)}")
    return index


def changed_stems(old: dict[str, list], new: dict[str, list]) -> list[str]:
    """Stems whose prediction file appeared, disappeared or changed (name, size or mtime) between two listings."""
    return sorted(s for s in set(old) | set(new) if (list(old[s]) if s in old else None) != (list(new[s]) if s in new else None))


def load_prediction(index: PredictionIndex, stem: str) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 RGB prediction of ``stem`` at the evaluation size.

    Raises:
        InputError: the file cannot be decoded (truncated, changed since indexed); names method and stem.
    """
    path = index.files[stem]
    h, w = index.size
    with open_image(path, f"method {index.label}, pair {stem}: {path}") as im:
        im = im.convert("RGB")
        if im.size != (w, h):
            if not index.resize:
                raise InputError(f"method {index.label}, pair {stem}: {path} is {im.height}x{im.width}, "
                                 f"the evaluation size is {h}x{w}; pass --resize-preds")
            im = im.resize((w, h), Image.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


class FolderMethod:
    """A method whose outputs are the files of a :class:`PredictionIndex`."""

    def __init__(self, index: PredictionIndex):
        self.index = index

    def __call__(self, image: np.ndarray, hole: np.ndarray, query: Query) -> Filled:
        return Filled(load_prediction(self.index, query.stem))
