"""Mask files on disk: finding them (folders, files, ``.tar`` shards), reading them, manifests.

A *mask source* is a path: a folder (searched recursively, in sorted order), one
image file, or a WebDataset-style ``.tar`` shard whose ``.png``/``.jpg`` members
are masks (the layout ``qdimd generate --format tar`` writes). A tar member is
named ``SHARD.tar:MEMBER`` in reports and manifests.

Any image is read as grey as displayed (any mode and bit depth, EXIF orientation
applied) and thresholded at 128, so anti-aliased or JPEG-compressed masks work;
what counts as a mask is :func:`qdimd.files.maskrules.mask_problem`. Files that are
not masks (an unreadable, truncated, oversized or empty file, a photo) are reported
to a :class:`ProblemLog` and skipped.

Polarity ``auto`` (:func:`decide_hole_value`): per folder (or shard), holes are
the colour that is not the majority on the image frame in most masks (a tie
means white holes).
"""
from __future__ import annotations

import csv
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import InputError, ProblemLog, name_problem
from ..io import MASK_SUFFIXES, PathLike, atomic_write_bytes
from .maskrules import read_mask_gray

@dataclass(frozen=True)
class MaskSource:
    """One mask file or tar member.

    Attributes:
        source: the path as found (``SHARD.tar:MEMBER`` for tar members).
        folder: the folder (or shard) it belongs to; ``auto`` polarity is decided per folder.
        rel: a relative name unique within the input, used to name copies.
        path: the file on disk (the shard for tar members).
        member: the tar member name, or None for a plain file.
    """

    source: str
    folder: str
    rel: str
    path: str
    member: str | None = None



def _is_mask_name(name: str) -> bool:
    base = os.path.basename(name)
    return not base.startswith(".") and base.lower().endswith(MASK_SUFFIXES)


def _tar_sources(path: Path, rel_prefix: str, problems: ProblemLog) -> list[MaskSource]:
    try:
        with tarfile.open(path) as tar:
            names = sorted(m.name for m in tar.getmembers() if m.isfile() and _is_mask_name(m.name))
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.add(str(path), None, f"not a readable tar shard ({exc})")
        return []
    stem = rel_prefix[: -len(".tar")] if rel_prefix.endswith(".tar") else rel_prefix
    return [
        MaskSource(f"{path}:{name}", str(path), f"{stem}/{name}", str(path), name) for name in names
    ]


def find_masks(src: PathLike, *, problems: ProblemLog, exclude: PathLike | None = None) -> list[MaskSource]:
    """Every mask under ``src`` in a stable order (sorted relative names).

    Args:
        src: a folder (recursive), one image file, or one ``.tar`` shard.
        problems: unreadable shards are reported here.
        exclude: a folder to skip (e.g. the output folder inside ``src``).

    Raises:
        InputError: ``src`` does not exist.
    """
    root = Path(src)
    if not root.exists():
        raise InputError(f"{src}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() == ".tar":
            return _tar_sources(root, root.name, problems)
        return [MaskSource(str(src), str(root.parent), root.name, str(src))]
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[MaskSource] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (skip is None or (here / d).resolve() != skip))
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if name.lower().endswith(".tar") and not name.startswith("."):
                found.extend(_tar_sources(path, rel, problems))
            elif _is_mask_name(name) and name_problem(path):
                problems.add(str(path), None, name_problem(path))
            elif _is_mask_name(name):
                found.append(MaskSource(str(path), str(here), rel, str(path)))
    found.sort(key=lambda m: m.rel)
    return found


def decode_gray(data: bytes, name: str) -> np.ndarray:
    """Decode image bytes into ``(H, W)`` uint8 grey, rejecting what is not a mask.

    Raises:
        InputError: empty, unreadable, or not a mask (:func:`qdimd.files.maskrules.mask_problem`).
    """
    return read_mask_gray(data, name)


def iter_source_bytes(sources: Iterable[MaskSource]) -> Iterator[tuple[MaskSource, bytes | InputError]]:
    """Each source's bytes, or the :class:`InputError` saying why it could not be read.

    Consecutive members of one shard are read through a single open tar file.
    """
    tar: tarfile.TarFile | None = None
    tar_path: str | None = None
    members: dict[str, tarfile.TarInfo] = {}
    try:
        for source in sources:
            try:
                if source.member is None:
                    yield source, Path(source.path).read_bytes()
                    continue
                if tar_path != source.path:
                    if tar is not None:
                        tar.close()
                    tar, tar_path, members = None, source.path, {}
                    tar = tarfile.open(source.path)
                    members = {m.name: m for m in tar.getmembers()}
                if tar is None:
                    raise InputError(f"{source.source}: unreadable tar shard")
                extracted = tar.extractfile(members[source.member]) if source.member in members else None
                if extracted is None:
                    raise InputError(f"{source.source}: no such regular tar member")
                yield source, extracted.read()
            except InputError as exc:
                yield source, exc
            except FileNotFoundError:
                yield source, InputError(f"{source.source}: no such file")
            except (OSError, tarfile.TarError, EOFError) as exc:
                yield source, InputError(f"{source.source}: unreadable ({exc})")
    finally:
        if tar is not None:
            tar.close()


def iter_mask_grays(sources: Iterable[MaskSource]) -> Iterator[tuple[MaskSource, np.ndarray | InputError]]:
    """Each source as ``(H, W)`` uint8 grey (see :func:`decode_gray`), or the error that rejects it."""
    for source, data in iter_source_bytes(sources):
        if isinstance(data, InputError):
            yield source, data
            continue
        try:
            yield source, decode_gray(data, source.source)
        except InputError as exc:
            yield source, exc


def frame_white_fraction(white: np.ndarray) -> float:
    """Fraction of white pixels on the image's outermost ring of pixels."""
    ring = np.concatenate([white[0], white[-1], white[1:-1, 0], white[1:-1, -1]])
    return float(np.count_nonzero(ring)) / ring.size


def decide_hole_value(frame_white: Sequence[float], white: Sequence[float]) -> int:
    """``auto`` polarity for one folder: a vote of its masks.

    Each mask votes for the colour that is *not* the majority on its outermost
    ring of pixels (holes rarely cover most of an image's frame, even in the
    NVIDIA set's 50-60% masks, and never in its noborder masks); a mask whose
    frame is split exactly in half votes for its minority colour by area. The
    folder takes the majority vote; a tie or an empty folder means white holes.

    Args:
        frame_white: per mask, the white (``>= 128``) fraction of the frame (:func:`frame_white_fraction`).
        white: per mask, the white fraction of the whole image.

    Returns:
        255 (white = hole) or 0 (black = hole).
    """
    votes = 0
    for frame, area in zip(frame_white, white):
        if frame != 0.5:
            votes += 1 if frame < 0.5 else -1
        elif area != 0.5:
            votes += 1 if area < 0.5 else -1
    return 255 if votes >= 0 else 0


def write_csv_atomic(path: PathLike, columns: Sequence[str], rows: Iterable[dict]) -> None:
    """Write a CSV with a header row through a temporary file and a rename."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def read_csv(path: PathLike) -> list[dict[str, str]]:
    """Read a CSV with a header row into dicts.

    Raises:
        InputError: unreadable or without a header.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise InputError(f"{path}: empty CSV (no header row)")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable CSV ({exc})") from None


def iter_progress(items: Iterable, progress, total: int, desc: str) -> Iterator:
    """Wrap ``items`` in ``progress(items, total=..., desc=...)`` (e.g. tqdm) when given."""
    return iter(items) if progress is None else iter(progress(items, total=total, desc=desc))
