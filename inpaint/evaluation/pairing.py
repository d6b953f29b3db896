"""The masks of an evaluation and their pairing with images (Liu et al. 2018, section 5).

A split is either a ``qdimd bucket`` output (``SPLIT/manifest.csv`` with the
columns ``file``, ``bucket``, ``group`` and optionally ``hole_value``; files in
``SPLIT/<bucket>/<group>/``; the polarity, border margin and bucket edges of
``SPLIT/config.json`` are honoured) or any folder of mask files without a manifest,
whose bucket and border group are then measured from the pixels with
:mod:`qdimd.buckets` (border margin :func:`qdimd.buckets.default_margin` of
each mask's size). Masks outside every bucket (bucket 0) are left out.

A manifest is not trusted: a ``file`` must be a relative path inside the split
(no absolute path, no ``..``; refused naming the manifest and line), and each
listed mask is measured: a row whose pixels give another bucket or border group
than it claims is reported (file and line, claimed and measured) and left out,
never scored in the claimed cell.

Pairing (:func:`pair_images`): in every (bucket, group), a seeded permutation of
the images is matched with a seeded permutation of that group's masks, without
replacement on either side; a group gets ``min(#images, #masks, limit)`` pairs.
The same image thus appears once per group, each time under another mask, and
the pairs of a group never depend on the other groups.
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from qdimd.buckets import DEFAULT_EDGES, GROUPS, border_distance, bucket_of, default_margin, group_of, hole_ratio
from qdimd.errors import InputError, ProblemLog, name_problem
from qdimd.files.imagefile import displayed_size, open_image
from qdimd.files.maskrules import check_polarity
from qdimd.io import MASK_SUFFIXES, confined_path, hole_from_gray, load_gray, resize_hole

MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class MaskEntry:
    """One evaluation mask: ``file`` relative to the split root."""

    file: str
    bucket: int
    group: str
    hole_value: int
    height: int
    width: int


@dataclass(frozen=True)
class Pair:
    """Image ``image`` (relative to the image folder) under mask ``mask``; ``index`` counts within the group."""

    bucket: int
    group: str
    index: int
    image: str
    mask: str


def image_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` of an image file as displayed, after decoding all of it (JPEGs at 1/8 scale), so
    that a truncated or corrupt file is found here, before pairing, and not in the middle of a run.

    Raises:
        InputError: missing, unreadable, truncated or oversized file (the message names it).
    """
    with open_image(path) as im:
        size = displayed_size(im)
        if im.format == "JPEG":
            im.draft(im.mode, (1, 1))  # the entropy-coded data is still read to its end
        im.load()
        return size


def split_margin(root: str | os.PathLike, config: dict | None = None) -> int | None:
    """The border margin a split was bucketed with: ``border_margin`` (generated) or an integer ``margin``
    (``qdimd bucket --from --border-margin``); None when scaled per mask size or unknown. ``config``: the
    split's :func:`split_config`, when already read."""
    config = split_config(root) if config is None else config
    for key in ("border_margin", "margin"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def split_config(root: str | os.PathLike) -> dict:
    """``SPLIT/config.json`` of a ``qdimd bucket`` split (``{}`` when absent or unreadable)."""
    try:
        config = json.loads((Path(root) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _at_size(hole: np.ndarray, entry: MaskEntry, size: tuple[int, int] | None) -> MaskEntry:
    """``entry`` measured again after a nearest resize of its ``hole`` to ``size`` (itself at its own size or None)."""
    if size is None or (entry.height, entry.width) == tuple(size):
        return entry
    return measure_mask(resize_hole(hole, size), entry.file, entry.hole_value)


def _read_manifest(root: Path, hole_value: int, problems: ProblemLog,
                   size: tuple[int, int] | None) -> list[tuple[MaskEntry, MaskEntry]]:
    path = root / MANIFEST
    config = split_config(root)
    margin = split_margin(root, config)
    edges = config.get("edges")
    if edges is not None and tuple(float(e) for e in edges) != DEFAULT_EDGES:
        raise InputError(f"{root / 'config.json'}: custom bucket edges {edges}; inpaint eval reports the papers' {DEFAULT_EDGES}")
    stored = config.get("hole_value", hole_value)  # "auto" in a `qdimd bucket --from` split: rows say
    hole_value = int(stored) if isinstance(stored, int) or str(stored).isdigit() else hole_value
    entries = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"file", "bucket", "group"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{path}: expected columns file, bucket, group; missing {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                bucket = int(row["bucket"])
                value = int(row.get("hole_value") or hole_value)
            except ValueError:
                raise InputError(f"{path}:{line}: expected integer bucket and hole_value, got {row}") from None
            if row["group"] not in GROUPS:
                raise InputError(f"{path}:{line}: expected group in {GROUPS}, got {row['group']!r}")
            if bucket == 0:
                continue
            file = confined_path(root, row["file"], f"{path}:{line}")
            if not file.is_file():  # deleted, or a dangling link of `qdimd bucket --from --link`
                problems.add(str(path), line, f"{row['file']}: no such file in {root} (deleted, or a dangling link); "
                             "left out")
                continue
            try:
                hole = hole_from_gray(load_gray(file), value)
            except InputError as exc:
                problems.add(str(path), line, f"{row['file']}: {str(exc).split(': ', 1)[-1]}; left out")
                continue
            entry = MaskEntry(row["file"], bucket, row["group"], value, *hole.shape)
            row_margin = int(row["margin"]) if (row.get("margin") or "").isdigit() else margin
            why = _claim_mismatch(hole, entry, row_margin)
            if why:
                problems.add(str(path), line, f"{row['file']}: {why}; left out")
                continue
            entries.append((entry, _at_size(hole, entry, size)))
    return entries


def _claim_mismatch(hole: np.ndarray, entry: MaskEntry, margin: int | None) -> str | None:
    """Why the pixels of ``entry``'s file (``hole``) contradict the bucket and group its manifest row claims, or None."""
    measured = measure_mask(hole, entry.file, entry.hole_value, margin)
    if (measured.bucket, measured.group) != (entry.bucket, entry.group):
        return (f"the row claims bucket {entry.bucket} {entry.group}, its pixels give bucket {measured.bucket} "
                f"{measured.group} (hole ratio {hole_ratio(hole):.4f} with hole value {entry.hole_value})")
    return None


def measure_mask(hole: np.ndarray, file: str, hole_value: int, margin: int | None = None) -> MaskEntry:
    """Bucket and border group of a hole mask ``(H, W)`` bool; ``margin`` None: the default margin of its size."""
    h, w = hole.shape
    group = group_of(border_distance(hole), default_margin(h, w) if margin is None else margin)
    return MaskEntry(file, bucket_of(hole_ratio(hole)), group, hole_value, h, w)


def _scan_folder(root: Path, hole_value: int, problems: ProblemLog,
                 size: tuple[int, int] | None) -> list[tuple[MaskEntry, MaskEntry]]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MASK_SUFFIXES)
    entries, ratios = [], []
    for path in files:
        if name_problem(path):
            problems.add(str(path), None, name_problem(path))
            continue
        try:
            hole = hole_from_gray(load_gray(path), hole_value)
        except InputError as exc:
            problems.add(str(path), None, str(exc).removeprefix(f"{path}: "))
            continue
        entry = measure_mask(hole, path.relative_to(root).as_posix(), hole_value)
        ratios.append(hole_ratio(hole))
        if entry.bucket:
            entries.append((entry, _at_size(hole, entry, size)))
    check_polarity(problems, str(root), ratios, hole_value)  # a manifest's split was checked by qdimd bucket
    return entries


def read_split(
    root: str | os.PathLike, *, hole_value: int = 255, problems: ProblemLog | None = None
) -> tuple[list[MaskEntry], bool]:
    """The bucketed masks of a split, sorted by file.

    Args:
        root: a ``qdimd bucket`` output, or a folder of mask files (searched recursively).
        hole_value: hole polarity of files whose manifest row has no ``hole_value`` (or with no manifest).
        problems: where unreadable (or truncated, oversized, non-mask) files and manifest rows whose pixels
            contradict their bucket or group are reported and left out, and where a polarity warning goes
            (default: raise).

    Returns:
        ``(entries, from_manifest)``.

    Raises:
        InputError: missing folder, a manifest naming missing files, or no mask in any bucket.
    """
    entries, _, from_manifest = read_split_at(root, None, hole_value=hole_value, problems=problems)
    return entries, from_manifest


def read_split_at(
    root: str | os.PathLike, size: tuple[int, int] | None, *, hole_value: int = 255, problems: ProblemLog | None = None
) -> tuple[list[MaskEntry], list[MaskEntry], bool]:
    """:func:`read_split`, and its masks measured again at ``size`` (bucket and group after a nearest resize),
    each mask decoded once.

    Returns:
        ``(entries, at_size, from_manifest)``: the split's bucketed masks, and the same masks measured
        again after a nearest resize to ``size`` (those left in a bucket; ``entries`` when ``size`` is None).

    Raises:
        InputError: as :func:`read_split`.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such mask folder (expected a qdimd bucket split or a folder of masks)")
    from_manifest = (root / MANIFEST).is_file()
    problems = problems if problems is not None else ProblemLog(strict=True)
    if from_manifest:
        found = _read_manifest(root, hole_value, problems, size)
    else:
        found = _scan_folder(root, hole_value, problems, size)
    if not found:
        where = f"{root / MANIFEST} lists" if from_manifest else f"{root} holds"
        why = "".join(f"; {w}" for w in problems.warnings)   # e.g. an inverted polarity
        raise InputError(f"{where} no mask in any hole-ratio bucket (0.01, 0.6]{why}")
    found.sort(key=lambda f: f[0].file)
    return [e for e, _ in found], [e for _, e in found if e.bucket], from_manifest


def load_hole(root: str | os.PathLike, entry: MaskEntry) -> np.ndarray:
    """The ``(H, W)`` bool hole array of ``entry`` (True = missing)."""
    return hole_from_gray(load_gray(Path(root) / entry.file), entry.hole_value)


def check_one_size(entries: Sequence[MaskEntry], root: str | os.PathLike) -> tuple[int, int]:
    """The single ``(H, W)`` of all masks.

    Raises:
        InputError: the masks come in several sizes (pass ``--size`` to resize them).
    """
    sizes: dict[tuple[int, int], int] = {}
    for e in entries:
        sizes[(e.height, e.width)] = sizes.get((e.height, e.width), 0) + 1
    if len(sizes) > 1:
        found = ", ".join(f"{h}x{w} ({n} masks)" for (h, w), n in sorted(sizes.items()))
        raise InputError(f"{root}: expected masks of one size, got {found}; pass --size S to resize them to SxS")
    return next(iter(sizes))


def pair_images(images: Sequence[str], entries: Sequence[MaskEntry], seed: int, limit: int | None = None) -> list[Pair]:
    """Deterministic pairs of images and masks per (bucket, group), without replacement.

    Args:
        images: image names (their order matters; pass them sorted).
        entries: masks (their order matters; :func:`read_split` sorts them by file).
        seed: group ``(b, g)`` draws from ``np.random.default_rng([seed, b, GROUPS.index(g)])``.
        limit: at most this many pairs per group.

    Returns:
        Pairs ordered by bucket, group (``noborder`` first) and index.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"Expected limit >= 1 or None, got {limit}")
    by_group: dict[tuple[int, str], list[MaskEntry]] = {}
    for e in entries:
        by_group.setdefault((e.bucket, e.group), []).append(e)
    pairs = []
    for bucket, group in sorted(by_group, key=lambda k: (k[0], GROUPS.index(k[1]))):
        masks = by_group[(bucket, group)]
        n = min(len(images), len(masks), limit if limit is not None else len(masks))
        rng = np.random.default_rng([seed, bucket, GROUPS.index(group)])
        image_ids = rng.permutation(len(images))[:n]
        mask_ids = rng.permutation(len(masks))[:n]
        pairs += [Pair(bucket, group, i, images[a], masks[b].file) for i, (a, b) in enumerate(zip(image_ids, mask_ids))]
    return pairs


def pair_stem(pair: Pair) -> str:
    """The file stem of ``pair`` shared by ``inpaint pairs`` and folder methods: ``<bucket><N|B>_<index>_<photo>``.

    Unique among a run's pairs even ignoring case (bucket, group and index are),
    made of ``[A-Za-z0-9_-]`` and never containing ``mask`` (LaMa's loader takes every
    ``*mask*.png`` for a mask): the photo's stem is kept for reading, ``mask`` in it
    spelled ``msk``, at most 40 characters. E.g. ``3N_00012_kodim05``.
    """
    name = re.sub(r"[^A-Za-z0-9-]+", "-", Path(pair.image).stem).strip("-")[:40]
    name = re.sub("mask", "msk", name, flags=re.IGNORECASE) or "photo"
    return f"{pair.bucket}{'N' if pair.group == 'noborder' else 'B'}_{pair.index:05d}_{name}"
