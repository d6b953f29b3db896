"""``qdimd stats``: the bucket x border table and a hole-ratio histogram of a mask set."""
from __future__ import annotations

from pathlib import Path

import click

from .options import PIXELS, strict_option, user_errors


@click.command()
@click.argument("src", type=click.Path(exists=True))
@click.option("--histogram", "-o", "histogram", type=click.Path(dir_okay=False), default=None,
              show_default="./NAME_ratio_histogram.png, NAME = the last part of SRC",
              help="Where to write the histogram PNG.")
@click.option("--border-margin", type=PIXELS, default=None,
              show_default="recorded beside the manifest, else round(50 * min(H, W) / 512)",
              help="Border margin in px for the noborder/border groups.")
@click.option("--hole-value", type=click.Choice(["255", "0", "auto"]), default="auto", show_default=True,
              help="Hole polarity of mask files when there is no manifest (auto decides per folder).")
@click.option("--no-manifest", is_flag=True, help="Read the masks even when SRC/manifest.csv exists.")
@strict_option
@user_errors
def stats(src, histogram, border_margin, hole_value, no_manifest, strict):
    """Print the bucket x border table of SRC and write a hole-ratio histogram.

    SRC is a folder with a manifest.csv (from qdimd generate or qdimd bucket), a
    folder of mask files or .tar shards, or one shard.
    """
    from tqdm import tqdm

    from qdimd.errors import ProblemLog
    from qdimd.io import check_not_input
    from qdimd.sets.stats import format_table, load_mask_stats, render_histogram, save_png, summarize

    path = Path(histogram) if histogram else Path(f"{Path(src).resolve().name}_ratio_histogram.png")  # never inside SRC
    check_not_input(path, {"SRC": src}, option="--histogram")  # inside SRC, it would be read as a mask

    def progress(items, total, desc):
        return tqdm(items, total=total, desc=desc, unit="mask", dynamic_ncols=True, leave=False)

    problems = ProblemLog(strict=strict)
    result = load_mask_stats(src, hole_value=hole_value if hole_value == "auto" else int(hole_value),
                             margin=border_margin, problems=problems, use_manifest=not no_manifest, progress=progress)
    if problems:
        click.echo(problems.summary(), err=True)
    for folder, text in result.decided.items():
        click.echo(f"{folder}: {text}")
    click.echo(f"{src}: {len(result.hole_ratio)} masks (from the {result.origin})")
    click.echo(format_table(summarize(result.hole_ratio, result.bucket, result.group)))
    save_png(path, render_histogram(result, title=f"{Path(src).name}: {len(result.hole_ratio)} masks"))
    click.echo(f"histogram: {path}")
