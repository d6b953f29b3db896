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


from ..buckets import DEFAULT_EDGES, GROUPS
from ..errors import InputError, ProblemLog
from ..io import PathLike, atomic_write_bytes
from ..files.maskfiles import (
    MaskSource,
    iter_progress,
    iter_source_bytes,
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


def clear_previous_sort(out: Path, src: Path) -> None:
    """Make ``out`` ready for a sort: absent or empty, or an earlier (possibly interrupted) sort, whose
    copies and links in ``<bucket>/<group>/`` are removed (a link, never its target), so no stale file stays.

    Raises:
        InputError: ``out`` holds anything else, or ``src`` lies inside an earlier sort in ``out``.
    """
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        mode = json.loads((out / "config.json").read_text(encoding="utf-8")).get("mode")
    except (OSError, ValueError, AttributeError):
        mode = None
    if mode != "sort":
        raise InputError(f"{out}: not empty and not the output of an earlier sort; choose a new or empty folder")
    if src.resolve().is_relative_to(out.resolve()):
        raise InputError(f"{src}: inside the earlier sort in {out}, whose files a new sort replaces; "
                         "choose another output folder")
    for bucket in [d for d in out.iterdir() if d.is_dir() and d.name.isdigit()]:
        for group in [bucket / g for g in GROUPS if (bucket / g).is_dir()]:
            for path in group.iterdir():
                if path.is_symlink() or path.is_file():
                    path.unlink()
            try:
                group.rmdir()
            except OSError:  # something else in it (a folder): kept
                pass
        try:
            bucket.rmdir()
        except OSError:
            pass
    for name in ("manifest.csv", "README.md"):
        (out / name).unlink(missing_ok=True)


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
    pairs, values, decided = measure_masks(
        src, hole_value=hole_value, margin=margin, edges=edges, problems=problems, progress=progress, exclude=out
    )
    clear_previous_sort(out, src)
    out.mkdir(parents=True, exist_ok=True)
    rows = [row for _, row in pairs]
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
