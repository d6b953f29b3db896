"""``qdimd bucket``: generate a bucketed test split (mode 1) or sort an existing mask folder (mode 2, ``--from``)."""
from __future__ import annotations

import click

from .options import COUNT, PIXELS, SIZE, kind_option, seed_option, strict_option, user_errors, workers_option


@click.command()
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder: OUT/<bucket>/<group>/.")
@click.option("--from", "src", type=click.Path(), default=None,
              help="Mode 2: sort the masks in this folder (recursive), .tar shard or file instead of generating.")
@click.option("--size", type=SIZE, default="256", show_default=True, help="Mode 1: S or HxW.")
@click.option("--per-group", type=COUNT, default=1000, show_default=True,
              help="Mode 1: masks per (bucket, group) cell; 6 buckets x 2 groups.")
@seed_option
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True,
              help="Mode 1: half of the Quick, Draw! categories to draw strokes from (qdimd.strokes.splits).")
@click.option("--border-margin", type=PIXELS, default=None, show_default="round(50 * min(H, W) / 512)",
              help="Holes at least this many px from the border form the noborder group (25 at 256, 50 at 512).")
@click.option("--hole-value", type=click.Choice(["255", "0", "auto"]), default=None,
              show_default="255 for mode 1, auto for mode 2",
              help="Pixel value of holes: 255 = white, 0 = black; auto (mode 2) decides per folder.")
@click.option("--strokes", multiple=True, type=click.Path(), metavar="PATH",
              help="Mode 1 stroke source (repeatable); default: the bundled Quick, Draw! sample.")
@workers_option
@click.option("--resume", is_flag=True, help="Mode 1: complete an interrupted run in --out.")
@click.option("--link", is_flag=True, help="Mode 2: symlink files instead of copying them.")
@strict_option
@kind_option
@user_errors
def bucket(out, src, size, per_group, seed, split, border_margin, hole_value, strokes, workers, resume, link, strict, kind):
    """Bucket masks by hole ratio (6 buckets, (0.01,0.1] ... (0.5,0.6]) and border group.

    Mode 1 (default) generates --per-group masks for each of the 12 cells, every
    mask verified, from the --split half of the categories. Mode 2 (--from DIR)
    copies (or links) existing masks into the same layout, never touching the
    originals. Both write OUT/manifest.csv, OUT/config.json and OUT/README.md.
    """
    from tqdm import tqdm

    from qdimd.errors import ProblemLog

    problems = ProblemLog(strict=strict)
    if src is not None:
        if kind is not None:
            raise click.UsageError("--kind applies to mode 1 only (mode 2 sorts existing masks)")
        if resume:
            raise click.UsageError("--resume applies to mode 1 only (mode 2 is rerun from scratch)")
        from qdimd.sets.sorting import sort_masks

        def progress(items, total, desc):
            return tqdm(items, total=total, desc=desc, unit="mask", dynamic_ncols=True)

        report = sort_masks(src, out, hole_value=hole_value or "auto", margin=border_margin, link=link,
                            problems=problems, progress=progress)
        for folder, text in report.decided.items():
            click.echo(f"{folder}: {text}")
        if problems:
            click.echo(problems.summary(), err=True)
        click.echo(f"sorted {len(report.rows)} masks into {out} (manifest.csv, README.md, config.json)")
        return
    if link:
        raise click.UsageError("--link applies to mode 2 (--from) only")
    if hole_value == "auto":
        raise click.UsageError("--hole-value auto applies to mode 2 (--from) only")
    import time
    from pathlib import Path

    from qdimd.io import check_not_input

    check_not_input(out, {"--strokes": list(strokes)}, inside_ok=True)  # masks are not stroke files

    from qdimd.sets.testsplit import write_bucket_set
    from qdimd.masks.generator import MaskConfig
    from qdimd.strokes.builder import open_strokes

    try:
        store = open_strokes(list(strokes) or None, problems=problems)
    finally:  # name the bad sources, also when none was usable
        if problems:
            click.echo(problems.summary(), err=True)
    config = MaskConfig(size=size, split=split)
    total, started = 12 * per_group, time.perf_counter()
    steps = write_bucket_set(out, config, store, per_group=per_group, seed=seed, margin=border_margin,
                             hole_value=int(hole_value or 255), workers=workers, resume=resume, kind=kind,
                             sources=list(strokes))
    try:
        done = next(steps)
        with tqdm(total=total, initial=done, unit="mask", desc="bucket", dynamic_ncols=True) as bar:
            for count in steps:
                bar.update(count)
    except KeyboardInterrupt:
        raise click.ClickException(
            f"interrupted: only complete files were kept; rerun with --resume to finish {out}") from None
    if kind is not None:  # the cost of each cell: draws per accepted mask (rejection by the kind's own means)
        from qdimd.kinds.targeted import draws_per_cell

        for b, g, count, draws in draws_per_cell(Path(out) / "manifest.csv"):
            click.echo(f"bucket {b} {g:8s}: {count} masks, {draws:.2f} draws per mask")
        click.echo(f"{kind}: {total / max(time.perf_counter() - started, 1e-9):.1f} masks/s overall")
    click.echo(f"{total} masks in {out} (manifest.csv, README.md, config.json)")
