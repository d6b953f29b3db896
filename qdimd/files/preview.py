"""Contact sheets: a grid of masks with each hole ratio written under it.

Holes are drawn white on black whatever the files' polarity; a mask that is
not square is fitted into its cell keeping its aspect ratio (nearest-neighbour,
so the cell stays binary).
"""
from __future__ import annotations

import contextlib
import csv
import os
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError, ProblemLog
from ..io import MASK_SUFFIXES, confined_path, hole_from_gray, load_gray
from .maskfiles import decode_gray

LABEL_HEIGHT = 14
GAP = 4


def render_contact_sheet(holes: Sequence[np.ndarray], labels: Sequence[str], *, columns: int = 8,
                         cell: int = 128) -> Image.Image:
    """A grid of masks with a label under each.

    Args:
        holes: ``(H, W)`` bool masks, True = hole (drawn white).
        labels: one text per mask.
        columns: masks per row.
        cell: side of a mask's cell in px.

    Returns:
        An ``L`` (grey) image.
    """
    if len(holes) != len(labels):
        raise ValueError(f"Expected one label per mask ({len(holes)}), got {len(labels)}")
    if not holes:
        raise ValueError("Expected at least one mask, got none")
    if columns < 1 or cell < 8:
        raise ValueError(f"Expected columns >= 1 and cell >= 8, got {columns}, {cell}")
    columns = min(columns, len(holes))
    rows = -(-len(holes) // columns)
    pitch_x, pitch_y = cell + GAP, cell + LABEL_HEIGHT + GAP
    sheet = Image.new("L", (GAP + columns * pitch_x, GAP + rows * pitch_y), 96)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (hole, label) in enumerate(zip(holes, labels)):
        tile = Image.fromarray(shrink_hole(hole, cell).view(np.uint8) * np.uint8(255))
        size = tile.size
        x = GAP + (i % columns) * pitch_x
        y = GAP + (i // columns) * pitch_y
        sheet.paste(tile, (x + (cell - size[0]) // 2, y + (cell - size[1]) // 2))
        draw.text((x + 2, y + cell + 1), label, fill=255, font=font)
    return sheet


def shrink_hole(hole: np.ndarray, cell: int) -> np.ndarray:
    """``hole`` resized (nearest) so that its longer side is ``cell`` px: what a sheet cell shows. Callers
    shrink each mask as it is made, so a sheet of many large masks never holds them at full size."""
    hole = np.asarray(hole, dtype=bool)
    h, w = hole.shape
    scale = cell / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return hole
    return np.asarray(Image.fromarray(hole.view(np.uint8)).resize(size, Image.NEAREST), dtype=bool)


def _hole_value_of(folder: Path) -> int:
    config = folder / "config.json"
    if config.is_file():
        from ..io import JSONDecodeError, json_loads

        try:
            return int(json_loads(config.read_bytes()).get("hole_value", 255))
        except (JSONDecodeError, TypeError, ValueError):
            pass
    return 255


def load_folder_masks(source, n: int, *, hole_value: int | None = None,
                      cell: int | None = None, problems: ProblemLog | None = None) -> tuple[list[np.ndarray], list[str]]:
    """The first ``n`` masks of a generated folder (or one of its manifests) with labels.

    Reads the manifest when there is one (tar shards too): ``manifest.csv``, else the
    ``manifest-K-of-N.csv`` of a sharded run in part order; else the folder's image files
    in sorted order. Polarity: ``hole_value``, else the folder's ``config.json``, else 255.

    Args:
        cell: shrink each mask to this side as it is read (:func:`shrink_hole`); None keeps the full size.
        problems: unreadable (truncated, oversized, non-mask) files are reported here and left
            out; None raises at the first.

    Returns:
        ``(holes, labels)``; labels are ``"#index ratio%"`` (or the file name and ratio).

    Raises:
        InputError: missing folder, no masks, a file that is not a manifest, unreadable files
            (without ``problems``).
    """
    source = Path(source)
    folder = source.parent if source.is_file() else source
    if not folder.is_dir():
        raise InputError(f"{source}: no such folder or manifest")
    if source.is_file():
        manifests = [source]
    elif (folder / "manifest.csv").is_file():
        manifests = [folder / "manifest.csv"]
    else:
        manifests = sorted(folder.glob("manifest-*-of-*.csv"), key=_part_number)
    hole_value = _hole_value_of(folder) if hole_value is None else hole_value
    entries: list[tuple[str, str]] = []
    for manifest in manifests:
        entries += _manifest_entries(manifest, n - len(entries))
    if not manifests:
        names = sorted(p for p in os.listdir(folder) if p.lower().endswith(MASK_SUFFIXES) and not p.startswith("."))
        entries = [(name, Path(name).stem[:10]) for name in names[:n]]
    if not entries:
        raise InputError(f"{source}: no masks found (expected a qdimd generate folder, a manifest.csv or image files)")
    holes, labels = [], []
    with contextlib.ExitStack() as stack:
        tars: dict[str, tarfile.TarFile] = {}
        for file, label in entries:
            try:
                hole = hole_from_gray(_read_entry(folder, file, tars, stack), hole_value)
            except InputError as exc:
                if problems is None:
                    raise
                problems.add(file, None, str(exc).split(": ", 1)[-1])
                continue
            labels.append(f"{label} {100 * hole.mean():.1f}%")
            holes.append(hole if cell is None else shrink_hole(hole, cell))
    if not holes:
        raise InputError(f"{source}: none of the {len(entries)} masks could be read ({problems.summary()})")
    return holes, labels


def _part_number(path: Path) -> tuple[int, str]:
    """Sort key of ``manifest-K-of-N.csv``: K (numerically), then the name."""
    k = path.name.removeprefix("manifest-").split("-of-")[0]
    return (int(k) if k.isdigit() else 0, path.name)


def _manifest_entries(manifest: Path, n: int) -> list[tuple[str, str]]:
    """Up to ``n`` ``(file, "#index")`` of a manifest written by ``qdimd generate``."""
    entries: list[tuple[str, str]] = []
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "file" not in reader.fieldnames:
                header = ",".join(reader.fieldnames or [])
                raise InputError(f"{manifest}: not a mask manifest (Expected a CSV header with a 'file' column, got "
                                 f"{header[:60]!r}); pass the folder, or a manifest.csv of qdimd generate")
            for line, row in enumerate(reader, 2):
                if len(entries) >= n:
                    break
                confined_path(manifest.parent, (row["file"] or "").split(":")[0], f"{manifest}:{line}")
                entries.append((row["file"], f"#{row.get('index', '?')}"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{manifest}: not a mask manifest ({exc})") from None
    return entries


def _read_entry(folder: Path, file: str, tars: dict, stack: contextlib.ExitStack) -> np.ndarray:
    """A manifest entry's grey image; tar shards are opened once (in ``tars``) and closed by ``stack``."""
    if ":" not in file:
        return load_gray(folder / file)
    shard, member = file.split(":", 1)
    try:
        if shard not in tars:
            tars[shard] = stack.enter_context(tarfile.open(folder / shard))
        data = tars[shard].extractfile(member).read()
    except (OSError, KeyError, tarfile.TarError, AttributeError) as exc:
        raise InputError(f"{folder / shard}: cannot read member {member} ({exc})") from None
    return decode_gray(data, f"{folder / shard}:{member}")
