"""``inpaint pairs``: a split's image/mask pairs written in every inpainting tool's layout.

The pairs are exactly those ``inpaint eval`` scores with the same options
(:func:`inpaint.evaluation.evaluate.select_pairs` and
:func:`~inpaint.evaluation.evaluate.load_pair`): the ground truth after the same
resize and crop, the hole after the same resize. Layout of ``OUT``:

- ``manifest.csv``: ``stem,image,mask,bucket,group,index,hole_ratio,height,width``
  (``image`` relative to ``--images``, ``mask`` to ``--masks``);
- ``lama/<stem>.png`` + ``lama/<stem>_mask000.png``: LaMa's ``bin/predict.py`` input (255 = hole);
- ``images/<stem>.png`` + ``masks/<stem>.png``: stem-paired, 255 = hole (IOPaint, diffusers);
- ``masks_keep/<stem>.png``: 255 = known (MAT, CoModGAN; same sorted order as ``images/``);
- ``config.json``: the options, to rerun ``inpaint eval`` on the same pairs;
- ``.inpaint-pairs-stems``: the stems this folder may hold, so that a rerun after the inputs changed
  removes the files of pairs that are gone (and nothing else).

Images are lossless PNG, masks strictly 0/255. Stems come from
:func:`inpaint.evaluation.pairing.pair_stem` (unique ignoring case, no ``mask``
in them). Files are written atomically and ``manifest.csv`` last, so a folder
with a manifest is complete; a rerun with the same options rewrites the same bytes.
A non-empty ``OUT`` that ``inpaint pairs`` did not write, or a layout folder that is
a symbolic link, is refused.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from qdimd.buckets import hole_ratio
from qdimd.errors import InputError, ProblemLog
from qdimd.io import (atomic_write_bytes, check_not_input, confined_path, hole_to_gray, json_dumps, make_own_folder,
                      owned_entry, read_json_object)

from .evaluate import load_pair, select_pairs
from .pairing import Pair, pair_stem
from .plan import EvalConfig, changed_settings, same_folder_key

MANIFEST_COLUMNS = ("stem", "image", "mask", "bucket", "group", "index", "hole_ratio", "height", "width")
LAYOUT = ("lama", "images", "masks", "masks_keep")
CONFIG_KEYS = ("images", "masks", "seed", "limit", "size", "hole_value")
LEDGER = ".inpaint-pairs-stems"


@dataclass(frozen=True)
class PairsPlan:
    """The pairs to write and where."""

    config: EvalConfig
    out: Path
    pairs: list[Pair]
    entries: dict
    size: tuple[int, int]


def plan_pairs(config: EvalConfig, *, problems: ProblemLog | None = None) -> PairsPlan:
    """Check the options and resolve the pairs (no file written).

    Raises:
        InputError: bad inputs (as ``inpaint eval``), an ``out`` overlapping an input, or an ``out``
            holding pairs of other options.
    """
    out = Path(config.out)
    check_not_input(out, {"--images": config.images, "--masks": config.masks})
    stored = out / "config.json"
    if out.is_dir() and not stored.exists() and any(out.iterdir()):
        raise InputError(f"{out}: not empty and not an inpaint pairs folder (no config.json), whose files it would "
                         "replace; choose a new or empty --out")
    if stored.exists():
        previous = read_json_object(stored, "an inpaint pairs config")
        changed = changed_settings({k: previous.get(k) for k in CONFIG_KEYS}, _config(config))
        if changed:
            raise InputError(f"{out}: holds pairs written with other options ({', '.join(changed)} differ); "
                             "use a new --out or delete the folder")
    selection = select_pairs(config, problems if problems is not None else ProblemLog())  # after the cheap refusals
    return PairsPlan(config, out, selection.pairs, selection.entries, selection.size)


def _config(config: EvalConfig) -> dict:
    return {"images": same_folder_key(config.images), "masks": same_folder_key(config.masks), "seed": config.seed, "limit": config.limit,
            "size": list(config.size) if config.size else None, "hole_value": config.hole_value}


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _pair_files(stem: str) -> tuple[str, ...]:
    """The files of one pair: LaMa's image and mask, IOPaint's image and mask, MAT's mask."""
    return (f"lama/{stem}.png", f"lama/{stem}_mask000.png", f"images/{stem}.png", f"masks/{stem}.png",
            f"masks_keep/{stem}.png")


def _ledger_stems(out: Path) -> set[str]:
    """The stems an earlier run may have written (its ledger, else its manifest)."""
    ledger = out / LEDGER
    if ledger.is_file():
        return set(ledger.read_text(encoding="utf-8").split())
    if (out / "manifest.csv").is_file():
        return {row["stem"] for row in read_pairs_manifest(out)}
    return set()


def _remove_stale(out: Path, stems: set[str]) -> None:
    """Remove the files of pairs ``stems`` written by an earlier run (never through a link, never a user's file)."""
    for stem in sorted(stems):
        for name in _pair_files(stem):
            path = confined_path(out, name, str(out / LEDGER))
            if owned_entry(out, path):
                path.unlink()


def write_pairs(plan: PairsPlan) -> Iterator[dict]:
    """Write every pair in every layout, then ``manifest.csv``, then remove the pairs of an earlier run that are
    gone (the inputs changed); yields each pair's manifest row."""
    out = plan.out
    for folder in LAYOUT:
        if (out / folder).is_symlink():
            make_own_folder(out / folder)  # refuses it, before anything is written
    out.mkdir(parents=True, exist_ok=True)
    # first: a folder with config.json is ours, so an interrupted run is recognised by the next one
    atomic_write_bytes(out / "config.json", json_dumps(_config(plan.config), indent=True))
    for folder in LAYOUT:
        make_own_folder(out / folder)
    stems = [pair_stem(pair) for pair in plan.pairs]
    old = _ledger_stems(out)
    atomic_write_bytes(out / LEDGER, "\n".join(sorted(old | set(stems))).encode("utf-8"))
    rows = []
    for pair, stem in zip(plan.pairs, stems):
        image, hole = load_pair(plan.config, plan.entries, plan.size, pair)
        hole_png = _png(hole_to_gray(hole))
        image_png = _png(image)
        datas = (image_png, hole_png, image_png, hole_png, _png(hole_to_gray(hole, hole_value=0)))
        for path, data in zip(_pair_files(stem), datas):
            atomic_write_bytes(out / path, data)
        row = {"stem": stem, "image": pair.image, "mask": pair.mask, "bucket": pair.bucket, "group": pair.group,
               "index": pair.index, "hole_ratio": repr(float(hole_ratio(hole))), "height": plan.size[0],
               "width": plan.size[1]}
        rows.append(row)
        yield row
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "manifest.csv", buf.getvalue().encode("utf-8"))
    _remove_stale(out, old - set(stems))
    atomic_write_bytes(out / LEDGER, "\n".join(sorted(stems)).encode("utf-8"))


def read_pairs_manifest(out: str | Path) -> list[dict]:
    """Rows of ``OUT/manifest.csv`` written by :func:`write_pairs`.

    Raises:
        InputError: no manifest (the pairs were not written, or not completely).
    """
    path = Path(out) / "manifest.csv"
    if not path.is_file():
        raise InputError(f"{path}: no such file; run `inpaint pairs` to completion first")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
