"""Sort an existing folder of masks into hole-ratio buckets and border groups (``qdimd bucket --from``).

Reads any masks (see :mod:`qdimd.files.maskfiles`: PNG/JPG/..., any size, 1 or 3
channels, thresholded at 128, folders and ``.tar`` shards), measures each one's
hole ratio and border distance, and copies (or symlinks) it, byte for byte, to
``OUT/<bucket>/<group>/<name>``, where ``<name>`` is the path relative to the
input with ``/`` replaced by ``__``. The user's files are never moved or
modified. ``OUT/manifest.csv`` has one row per mask (:data:`MANIFEST_COLUMNS`).

The margin of the border constraint defaults to the NVIDIA one scaled to each
mask's size (:func:`qdimd.buckets.default_margin`: 50 px at 512, 25 px at 256).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence


from ..buckets import DEFAULT_EDGES
from ..errors import InputError, ProblemLog
from ..io import PathLike, atomic_write_bytes, check_not_input, confined_path, owned_entry, temp_file_target
from ..files.maskfiles import (
    MaskSource,
    iter_progress,
    iter_source_bytes,
    read_csv,
    write_csv_atomic,
)
from .measure import HoleValueArg, SortedMask, measure_masks
from .stats import format_readme, summarize

MANIFEST_COLUMNS: tuple[str, ...] = (
    "file", "source", "hole_value", "height", "width", "hole_ratio", "border_distance", "margin", "bucket", "group",
)


@dataclass(frozen=True)
class SortReport:
    """What :func:`sort_masks` did.

    Attributes:
        rows: one per sorted mask, in input order.
        hole_values: per input folder (or shard), the hole value used.
        decided: per input folder, how ``auto`` decided (empty unless ``hole_value="auto"``).
    """

    rows: tuple[SortedMask, ...]
    hole_values: dict[str, int]
    decided: dict[str, str]


def _place(path: Path, source: MaskSource, data: bytes, link: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (link and source.member is None):
        atomic_write_bytes(path, data)
        return
    tmp = path.with_name(f".{path.name}.link.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.abspath(source.path), tmp)
    os.replace(tmp, path)


LEDGER = ".qdimd-sort-files"
"""``OUT/LEDGER``: every file a sort wrote or is about to write, one JSON string per line (kept; a rerun removes only
these, besides those its manifest lists)."""


def _previous_files(out: Path) -> set[str]:
    """The files an earlier sort in ``out`` wrote: its ledger and its manifest, each checked to lie inside ``out``
    (a relative path without ``..``, through real folders: a symbolic link to elsewhere is never followed)."""
    names = []
    if (out / LEDGER).is_file():
        for n, line in enumerate((out / LEDGER).read_text(encoding="utf-8").split("\n"), 1):
            try:
                name = json.loads(line) if line else ""
                if not isinstance(name, str):
                    raise ValueError
            except ValueError:
                raise InputError(f"{out / LEDGER}:{n}: expected a JSON string per line, got {line[:60]!r}") from None
            names += [(f"{out / LEDGER}:{n}", name)] if name else []
    if (out / "manifest.csv").is_file():
        names += [(f"{out / 'manifest.csv'}:{n}", row.get("file") or "")
                  for n, row in enumerate(read_csv(out / "manifest.csv"), 2)]
    files = set()
    for where, name in names:
        if owned_entry(out, confined_path(out, name, where)):
            files.add(name)
    return files


def _check_targets(out: Path, planned: Sequence[str], previous: set[str]) -> None:
    """Refuse a sort whose copies would replace a file an earlier sort did not write, or go through a link."""
    for name in planned:
        path = out / name
        for parent in list(path.relative_to(out).parents)[:-1]:
            if (out / parent).is_symlink() or ((out / parent).exists() and not (out / parent).is_dir()):
                raise InputError(f"{out / parent}: a symbolic link or a file where qdimd bucket writes its folder "
                                 "<bucket>/<group>; it never writes through links; remove it or choose another --out")
        if (path.exists() or path.is_symlink()) and name not in previous:
            raise InputError(f"{path}: not written by qdimd bucket (not in {out / LEDGER} or manifest.csv), and a copy "
                             "would replace it; move it away or choose another --out")


def clear_previous_sort(out: Path, src: Path, planned: Sequence[str] = ()) -> None:
    """Make ``out`` ready for a sort: absent or empty, or an earlier (possibly interrupted) sort, whose
    copies and links (those its ledger or manifest lists, never a file it did not write, never through a
    symbolic link) are removed, so no stale file stays. Nothing is removed when a check fails.

    Args:
        planned: the files (relative to ``out``) the new sort will write; recorded in the ledger first.

    Raises:
        InputError: ``out`` holds anything else, ``src`` lies inside an earlier sort in ``out``, or a
            planned copy would replace a file the earlier sort did not write.
    """
    previous: set[str] = set()
    if out.is_dir() and any(p.name != LEDGER for p in out.iterdir()):
        try:
            mode = json.loads((out / "config.json").read_text(encoding="utf-8")).get("mode")
        except (OSError, ValueError, AttributeError):
            mode = None
        if mode != "sort":
            raise InputError(f"{out}: not empty and not the output of an earlier sort; choose a new or empty folder")
        if src.resolve().is_relative_to(out.resolve()):
            raise InputError(f"{src}: inside the earlier sort in {out}, whose files a new sort replaces; "
                             "choose another output folder")
    if out.is_dir():
        previous = _previous_files(out)
    _check_targets(out, planned, previous)
    out.mkdir(parents=True, exist_ok=True)
    ledger = "".join(json.dumps(name) + "\n" for name in sorted(previous | set(planned)))  # any character in a name
    atomic_write_bytes(out / LEDGER, ledger.encode("utf-8"))
    for name in ("manifest.csv", "README.md"):
        (out / name).unlink(missing_ok=True)
    folders = set()
    for name in sorted(previous):
        (out / name).unlink(missing_ok=True)
        folders.add((out / name).parent)
    names = {Path(n).name for n in previous | set(planned)}
    for folder in folders | {(out / n).parent for n in planned}:
        if folder.is_dir() and not folder.is_symlink():
            for entry in os.listdir(folder):  # temporary files of an interrupted copy
                if temp_file_target(entry) in names or entry.removesuffix(".link.tmp").removeprefix(".") in names:
                    (folder / entry).unlink(missing_ok=True)
    for folder in sorted(folders, key=lambda f: -len(f.parts)):
        for empty in (folder, folder.parent):
            try:
                if empty != out:
                    empty.rmdir()
            except OSError:  # something else in it: kept
                pass


def sort_masks(
    src_dir: PathLike,
    out_dir: PathLike,
    *,
    hole_value: HoleValueArg = "auto",
    margin: int | None = None,
    edges: Sequence[float] = DEFAULT_EDGES,
    link: bool = False,
    problems: ProblemLog,
    progress: Callable | None = None,
) -> SortReport:
    """Sort the masks under ``src_dir`` into ``out_dir/<bucket>/<group>/``.

    Also writes ``out_dir/manifest.csv`` (:data:`MANIFEST_COLUMNS`), ``config.json``
    (the resolved options and polarity decisions) and ``README.md`` (the bucket x
    group table), each atomically.

    Args:
        src_dir: a folder (recursive), a ``.tar`` shard, or one mask file.
        out_dir: the output folder (created): new, empty, or an earlier sort, whose copies are
            replaced; may not be ``src_dir``; skipped when inside it.
        hole_value: 255 (white = hole), 0 (black = hole) or ``"auto"`` (decided per folder by
            :func:`qdimd.files.maskfiles.decide_hole_value`).
        margin: border margin in px; None scales NVIDIA's 50 px at 512 to each mask's size.
        edges: bucket edges; bucket ``k`` (1-based) is ``(edges[k-1], edges[k]]``, 0 outside all.
        link: symlink plain files instead of copying them (tar members are always written out).
        problems: unreadable files and non-masks are reported here and skipped (strict: raise).
        progress: optional ``tqdm``-like wrapper ``progress(iterable, total=, desc=)``.

    Returns:
        A :class:`SortReport`; ``out_dir/manifest.csv`` lists the same rows.

    Raises:
        InputError: ``src_dir`` missing, equal to ``out_dir``, or holding no readable mask; ``out_dir``
            holding something other than an earlier sort.
    """
    src, out = Path(src_dir), Path(out_dir)
    if src.exists() and src.resolve() == out.resolve():
        raise InputError(f"{out_dir}: the output folder must differ from the input folder")
    check_not_input(out, {"--from": src}, inside_ok=True)  # inside: skipped (exclude=out below)
    pairs, values, decided = measure_masks(
        src, hole_value=hole_value, margin=margin, edges=edges, problems=problems, progress=progress, exclude=out
    )
    rows = [row for _, row in pairs]
    clear_previous_sort(out, src, [row.file for row in rows])
    config = {
        "mode": "sort", "from": str(src_dir), "hole_value": hole_value, "hole_values": values, "decided": decided,
        "margin": margin if margin is not None else "scaled: round(50 * min(H, W) / 512)", "edges": list(edges),
        "link": link, "masks": len(rows), "skipped": len(problems),
    }
    # first, so that an interrupted sort is recognised (and replaced) by the next one
    atomic_write_bytes(out / "config.json", (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    by_source = {source.source: row for source, row in pairs}
    placed = iter_source_bytes(source for source, _ in pairs)
    for source, data in iter_progress(placed, progress, len(pairs), "linking" if link else "copying"):
        if isinstance(data, InputError):
            raise InputError(f"{data} (it changed while sorting)")
        _place(out / by_source[source.source].file, source, data, link)
    write_csv_atomic(out / "manifest.csv", MANIFEST_COLUMNS, (_csv_row(r) for r in rows))
    table = summarize([r.hole_ratio for r in rows], [r.bucket for r in rows], [r.group for r in rows], edges)
    title = f"Masks from {src_dir}, sorted by qdimd bucket --from"
    atomic_write_bytes(out / "README.md", format_readme(title, table, config).encode("utf-8"))
    return SortReport(tuple(rows), values, decided)


def _csv_row(row: SortedMask) -> dict:
    out = asdict(row)
    out["hole_ratio"] = repr(float(row.hole_ratio))
    return out
