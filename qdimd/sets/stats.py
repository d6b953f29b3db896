"""Statistics of a mask set: the bucket x border-group table and a hole-ratio histogram.

``qdimd stats DIR`` reads ``DIR/manifest.csv`` when it has ``hole_ratio`` and
``border_distance`` columns (written by ``qdimd generate`` and ``qdimd bucket``),
otherwise it reads the masks themselves (folders or ``.tar`` shards; see
:mod:`qdimd.files.maskfiles`). The histogram is drawn with PIL alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..buckets import DEFAULT_EDGES, GROUPS, bucket_of, default_margin, group_of
from ..errors import InputError, ProblemLog
from ..io import PathLike, atomic_write_bytes, confined_path
from ..files.imagefile import displayed_size, open_image
from ..files.maskfiles import read_csv
from .measure import measure_masks

GROUP_COLOURS = {"noborder": (52, 101, 164), "border": (230, 145, 56)}


@dataclass(frozen=True)
class CellStats:
    """One (bucket, group) cell: ``share`` is of all masks; ratios are NaN for an empty cell."""

    bucket: int
    group: str
    count: int
    share: float
    mean_ratio: float
    median_ratio: float


@dataclass(frozen=True)
class BucketTable:
    """Cells for buckets ``1..len(edges)-1`` then 0 (outside every bucket), each group in :data:`GROUPS`."""

    cells: tuple[CellStats, ...]
    total: int
    edges: tuple[float, ...]


@dataclass(frozen=True)
class MaskStats:
    """Per-mask figures of a mask set, parallel arrays."""

    hole_ratio: np.ndarray  # (N,) float64
    bucket: np.ndarray  # (N,) int64
    group: tuple[str, ...]
    origin: str  # "manifest" or "masks"
    decided: dict[str, str] = field(default_factory=dict)  # per folder, how hole_value="auto" decided


def summarize(
    ratios: Sequence[float], buckets: Sequence[int], groups: Sequence[str], edges: Sequence[float] = DEFAULT_EDGES,
) -> BucketTable:
    """Counts, shares and mean/median ratio per (bucket, group)."""
    ratios = np.asarray(ratios, dtype=np.float64)
    buckets = np.asarray(buckets, dtype=np.int64)
    groups_arr = np.asarray(groups, dtype=object)
    if not len(ratios) == len(buckets) == len(groups_arr):
        raise ValueError(f"Expected equal lengths, got {len(ratios)}, {len(buckets)}, {len(groups_arr)}")
    total = len(ratios)
    cells = []
    for bucket in [*range(1, len(edges)), 0]:
        for group in GROUPS:
            sel = ratios[(buckets == bucket) & (groups_arr == group)]
            count = int(sel.size)
            cells.append(CellStats(
                bucket, group, count, count / total if total else 0.0,
                float(sel.mean()) if count else float("nan"), float(np.median(sel)) if count else float("nan"),
            ))
    return BucketTable(tuple(cells), total, tuple(float(e) for e in edges))


def _range_text(bucket: int, edges: Sequence[float]) -> str:
    if bucket == 0:
        return "outside"
    return f"({edges[bucket - 1]:.2f}, {edges[bucket]:.2f}]"


def format_table(table: BucketTable) -> str:
    """A fixed-width text table (also valid Markdown), one line per (bucket, group), then the total."""
    header = ("bucket", "ratio range", "group", "count", "share", "mean ratio", "median ratio")
    lines = [header]
    for c in table.cells:
        if c.bucket == 0 and c.count == 0:
            continue
        fmt = (lambda v: "-" if np.isnan(v) else f"{v:.3f}")
        lines.append((str(c.bucket), _range_text(c.bucket, table.edges), c.group, str(c.count), f"{c.share:.1%}",
                      fmt(c.mean_ratio), fmt(c.median_ratio)))
    lines.append(("all", "", "", str(table.total), "100.0%" if table.total else "0.0%", "", ""))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = []
    for k, row in enumerate(lines):
        out.append("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def format_readme(title: str, table: BucketTable, config: dict) -> str:
    """The ``README.md`` written beside a bucket split: table, layout, manifest columns, options."""
    return (
        f"# {title}\n\n{format_table(table)}\n\n"
        "Layout: `<bucket>/<group>/<file>`; bucket 1..6 = hole-to-image area ratio in (0.01,0.1], ..., (0.5,0.6]"
        " (0 = outside every bucket); group `noborder` = every hole at least `margin` px from the image border"
        " (`border_distance >= margin`), `border` = some hole closer.\n\n"
        "`manifest.csv`: one row per mask (`file` relative to this folder, `hole_ratio`, `border_distance`,"
        " `bucket`, `group`, ...).\n\n"
        f"Options (also in `config.json`):\n\n```json\n{json.dumps(config, indent=2)}\n```\n"
    )


def _margin_from_config(folder: Path) -> int | None:
    path = folder / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("border_margin", "margin"):
        if isinstance(config.get(key), int):
            return int(config[key])
    size = config.get("size")
    for key in ("mask_config", "config"):  # qdimd generate / qdimd bucket nest the generator config
        if size is None and isinstance(config.get(key), dict):
            size = config[key].get("size")
    if isinstance(size, int):
        return default_margin(size, size)
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return default_margin(*size)
    return None


def _from_manifest(folder: Path, margin: int | None, edges: Sequence[float], problems: ProblemLog) -> MaskStats | None:
    """The stats of ``folder/manifest.csv``; a row whose ratio or distance is not a number (``nan``, a word)
    or whose ratio is outside 0..1 is skipped and reported, so the table's total counts what it shows."""
    path = folder / "manifest.csv"
    if not path.is_file():
        return None
    rows = read_csv(path)
    if rows and not {"hole_ratio", "border_distance"} <= set(rows[0]):
        return None
    margin = margin if margin is not None else _margin_from_config(folder)
    if margin is None and rows and "margin" not in rows[0] and rows[0].get("file") and ":" not in rows[0]["file"]:
        first_file = confined_path(folder, rows[0]["file"], f"{path}:2")
        try:  # the size of the first mask (header only)
            with open_image(first_file) as first:
                margin = default_margin(*displayed_size(first))
        except InputError:
            pass
    ratios, buckets, groups = [], [], []
    for line, row in enumerate(rows, start=2):
        try:
            ratio, distance = float(row["hole_ratio"]), int(float(row["border_distance"]))
            if not 0.0 <= ratio <= 1.0:  # also NaN
                raise ValueError(f"Expected hole_ratio in 0..1, got {row['hole_ratio']!r}")
            use_margin = margin
            if use_margin is None and row.get("margin"):
                use_margin = int(row["margin"])
            if use_margin is None and row.get("height") and row.get("width"):
                use_margin = default_margin(int(row["height"]), int(row["width"]))
        except (TypeError, ValueError, OverflowError) as exc:
            problems.add(str(path), line, f"bad hole_ratio/border_distance ({exc}); row left out")
            continue
        if use_margin is None:
            if not row.get("group") or row["group"] not in GROUPS:
                raise InputError(f"{path}: no border margin known; pass --border-margin")
            group = row["group"]
        else:
            group = group_of(distance, use_margin)
        ratios.append(ratio)
        buckets.append(bucket_of(ratio, edges))
        groups.append(group)
    if rows and not ratios:
        raise InputError(f"{path}: no row with a usable hole_ratio and border_distance (each reported above)")
    return MaskStats(np.asarray(ratios, dtype=np.float64), np.asarray(buckets, dtype=np.int64), tuple(groups), "manifest")


def load_mask_stats(
    src: PathLike,
    *,
    hole_value: int | str = "auto",
    margin: int | None = None,
    edges: Sequence[float] = DEFAULT_EDGES,
    problems: ProblemLog,
    use_manifest: bool = True,
    progress: Callable | None = None,
) -> MaskStats:
    """Per-mask ratio, bucket and group of a mask set.

    Args:
        src: a folder with a manifest, a folder of masks or ``.tar`` shards, or one shard.
        hole_value, margin, edges, problems, progress: as in :func:`qdimd.sets.sorting.sort_masks`;
            ``margin`` None takes the one recorded beside the manifest, else NVIDIA's scaled one.
        use_manifest: read ``manifest.csv`` when it has the needed columns.

    Raises:
        InputError: nothing readable.
    """
    folder = Path(src)
    if use_manifest and folder.is_dir():
        stats = _from_manifest(folder, margin, edges, problems)
        if stats is not None:
            return stats
    pairs, _, decided = measure_masks(
        folder, hole_value=hole_value, margin=margin, edges=edges, problems=problems, progress=progress,
    )
    rows = [row for _, row in pairs]
    return MaskStats(
        np.array([r.hole_ratio for r in rows]), np.array([r.bucket for r in rows], dtype=np.int64),
        tuple(r.group for r in rows), "masks", decided,
    )


def render_histogram(
    stats: MaskStats, edges: Sequence[float] = DEFAULT_EDGES, *, bin_width: float = 0.01, size: tuple[int, int] = (900, 420),
    title: str = "",
) -> np.ndarray:
    """Hole-ratio histogram, stacked by group, bucket edges marked: ``(H, W, 3)`` uint8 RGB."""
    width, height = size
    left, right, top, bottom = 64, 20, 40, 56
    hi = max(float(edges[-1]) + 0.05, float(stats.hole_ratio.max(initial=0.0)) + bin_width)
    hi = min(1.0, np.ceil(hi * 10) / 10)
    bins = np.arange(0.0, hi + 1e-9, bin_width)
    groups = np.asarray(stats.group, dtype=object)
    counts = {g: np.histogram(stats.hole_ratio[groups == g], bins=bins)[0] for g in GROUPS}
    peak = max(1, int((counts[GROUPS[0]] + counts[GROUPS[1]]).max(initial=0)))
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=13)
    plot_w, plot_h = width - left - right, height - top - bottom
    x_of = lambda r: left + r / hi * plot_w  # noqa: E731
    y_of = lambda c: top + plot_h - c / peak * plot_h  # noqa: E731
    for k in range(len(bins) - 1):
        base = 0
        for g in GROUPS:
            c = int(counts[g][k])
            if c:
                draw.rectangle([x_of(bins[k]) + 1, y_of(base + c), x_of(bins[k + 1]) - 1, y_of(base)], fill=GROUP_COLOURS[g])
            base += c
    for e in edges:
        x = x_of(e)
        for y in range(top, top + plot_h, 8):
            draw.line([x, y, x, min(y + 4, top + plot_h)], fill=(200, 30, 30), width=1)
    for b in range(1, len(edges)):
        draw.text(((x_of(edges[b - 1]) + x_of(edges[b])) / 2, top + 4), str(b), fill=(200, 30, 30), font=font, anchor="mt")
    draw.line([left, top + plot_h, left + plot_w, top + plot_h], fill="black")
    draw.line([left, top, left, top + plot_h], fill="black")
    for t in np.arange(0.0, hi + 1e-9, 0.1):
        draw.line([x_of(t), top + plot_h, x_of(t), top + plot_h + 4], fill="black")
        draw.text((x_of(t), top + plot_h + 6), f"{t:.1f}", fill="black", font=font, anchor="mt")
    for frac in (0.0, 0.5, 1.0):
        c = peak * frac
        draw.text((left - 6, y_of(c)), f"{c:.0f}", fill="black", font=font, anchor="rm")
    draw.text((left + plot_w / 2, height - 8), "hole-to-image area ratio (dashed: bucket edges, red numbers: buckets)",
              fill="black", font=font, anchor="mb")
    draw.text((left, 12), title or f"{len(stats.hole_ratio)} masks", fill="black", font=font)
    x = left + plot_w - 230
    for g in GROUPS:
        draw.rectangle([x, 12, x + 12, 24], fill=GROUP_COLOURS[g])
        draw.text((x + 16, 12), g, fill="black", font=font)
        x += 110
    return np.asarray(img)


def save_png(path: PathLike, rgb: np.ndarray) -> None:
    """Write an RGB array as a PNG, atomically."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(path, buffer.getvalue())
