"""Measure every mask of a folder or shard: hole ratio, border distance, bucket, group, polarity.

Shared by :mod:`qdimd.sets.sorting` (``qdimd bucket --from``) and :mod:`qdimd.sets.stats`
(``qdimd stats`` of a folder without a manifest).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

from ..buckets import DEFAULT_EDGES, border_distance, bucket_of, default_margin, group_of
from ..errors import InputError, ProblemLog
from ..io import PathLike
from ..files.maskrules import check_polarity
from ..files.maskfiles import (
    MaskSource,
    decide_hole_value,
    find_masks,
    frame_white_fraction,
    iter_mask_grays,
    iter_progress,
)

HoleValueArg = Union[int, str]


@dataclass(frozen=True)
class SortedMask:
    """One manifest row: ``file`` relative to OUT, ``source`` the input path as found."""

    file: str
    source: str
    hole_value: int
    height: int
    width: int
    hole_ratio: float
    border_distance: int
    margin: int
    bucket: int
    group: str

@dataclass(frozen=True)
class _Measured:
    source: MaskSource
    shape: tuple[int, int]
    white_fraction: float
    frame_white: float
    white_distance: int
    black_distance: int


def _measure(source: MaskSource, gray: np.ndarray) -> _Measured:
    white = gray >= 128
    return _Measured(
        source, gray.shape, float(np.count_nonzero(white)) / white.size, frame_white_fraction(white),
        border_distance(white), border_distance(~white),
    )


def check_hole_value(hole_value: HoleValueArg) -> HoleValueArg:
    """Validate ``255``, ``0`` or ``"auto"`` (also accepted as strings)."""
    if isinstance(hole_value, str) and hole_value != "auto":
        try:
            hole_value = int(hole_value)
        except ValueError:
            pass
    if hole_value not in (255, 0, "auto"):
        raise ValueError(f"Expected hole_value 255, 0 or 'auto', got {hole_value!r}")
    return hole_value


def output_name(source: MaskSource) -> str:
    """The copy's file name: the relative input path with ``/`` replaced by ``__``."""
    return source.rel.replace("/", "__")


def _decide(measured: Sequence[_Measured], hole_value: HoleValueArg) -> tuple[dict[str, int], dict[str, str]]:
    folders: dict[str, list[_Measured]] = {}
    for m in measured:
        folders.setdefault(m.source.folder, []).append(m)
    if hole_value != "auto":
        return {folder: int(hole_value) for folder in folders}, {}
    values, decided = {}, {}
    for folder, masks in folders.items():
        value = decide_hole_value([m.frame_white for m in masks], [m.white_fraction for m in masks])
        frame_valid = sum((m.frame_white < 0.5) if value == 255 else (m.frame_white > 0.5) for m in masks)
        values[folder] = value
        colour = "white (255)" if value == 255 else "black (0)"
        decided[folder] = (f"holes are {colour}: the other colour fills most of the image frame in {frame_valid}"
                           f" of {len(masks)} masks")
    return values, decided


def _row(m: _Measured, value: int, margin: int | None, edges: Sequence[float], name: str) -> SortedMask:
    h, w = m.shape
    ratio = m.white_fraction if value == 255 else 1.0 - m.white_fraction
    distance = m.white_distance if value == 255 else m.black_distance
    use_margin = default_margin(h, w) if margin is None else int(margin)
    bucket, group = bucket_of(ratio, edges), group_of(distance, use_margin)
    return SortedMask(
        file=f"{bucket}/{group}/{name}", source=m.source.source, hole_value=value, height=h, width=w, hole_ratio=ratio,
        border_distance=distance, margin=use_margin, bucket=bucket, group=group,
    )

def measure_masks(
    src: PathLike,
    *,
    hole_value: HoleValueArg = "auto",
    margin: int | None = None,
    edges: Sequence[float] = DEFAULT_EDGES,
    problems: ProblemLog,
    progress: Callable | None = None,
    exclude: PathLike | None = None,
) -> tuple[list[tuple[MaskSource, SortedMask]], dict[str, int], dict[str, str]]:
    """Read and measure every mask under ``src`` (arguments as in :func:`sort_masks`).

    Returns:
        ``(pairs, hole_values, decided)``: ``pairs`` holds each readable source with its row
        (``file`` = ``<bucket>/<group>/<name>``), in input order; then the polarity used per
        folder and, for ``auto``, how it was decided.

    Raises:
        InputError: ``src`` missing or holding no readable mask.
    """
    hole_value = check_hole_value(hole_value)
    bucket_of(0.5, edges)  # validates the edges up front
    if margin is not None and margin < 0:
        raise ValueError(f"Expected margin >= 0 or None, got {margin}")
    sources = find_masks(src, problems=problems, exclude=exclude)
    measured: list[_Measured] = []
    for source, gray in iter_progress(iter_mask_grays(sources), progress, len(sources), "measuring"):
        if isinstance(gray, InputError):
            problems.add(source.source, None, str(gray).removeprefix(f"{source.source}: "))
            continue
        measured.append(_measure(source, gray))
    if not measured:
        found = f" ({problems.summary()})" if len(problems) else ""
        raise InputError(f"{src}: no readable mask files found{found}")
    values, decided = _decide(measured, hole_value)
    ratios: dict[str, list[float]] = {}
    for m in measured:
        value = values[m.source.folder]
        ratios.setdefault(m.source.folder, []).append(m.white_fraction if value == 255 else 1.0 - m.white_fraction)
    for folder, folder_ratios in ratios.items():   # the one polarity rule of every command that reads masks
        check_polarity(problems, folder, folder_ratios, values[folder])
    pairs, names = [], set()
    for m in measured:
        name = output_name(m.source)
        if name in names:
            raise InputError(f"{m.source.source}: two inputs map to the output name {name!r}")
        names.add(name)
        pairs.append((m.source, _row(m, values[m.source.folder], margin, edges, name)))
    return pairs, values, decided
