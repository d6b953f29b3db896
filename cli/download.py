"""``qdimd download``: fetch Quick, Draw! category files, resumably, with progress bars."""
from __future__ import annotations

import threading

import click

from qdimd.strokes.download import DEFAULT_BASE_URL, FORMATS

from .options import FiniteFloatRange, split_names, user_errors


def _list_categories(ctx, param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from qdimd.strokes.categories import CATEGORIES

        click.echo("\n".join(CATEGORIES))
        ctx.exit()


@click.command()
@click.option("--categories", callback=split_names, metavar="NAME[,NAME...]", default=None,
              help="Comma-separated category names, spaces allowed ('cat,hot air balloon').  [default: all 345]")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="simplified", show_default=True,
              help="simplified/raw ndjson, binary .bin or sketch-rnn .npz (all readable by `qdimd index` and --strokes).")
@click.option("--out", type=click.Path(file_okay=False), default=None, show_default="quickdraw/FORMAT",
              help="Folder for DIR/<category>.<ext>; partial files are DIR/.<category>.<ext>.part.")
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True,
              help="The bucket, or a mirror with its layout (full/simplified/, full/raw/, full/binary/, sketchrnn/).")
@click.option("--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help="Files downloaded at once.")
@click.option("--retries", type=click.IntRange(0, 10_000), default=5, show_default=True,
              help="Retries per file after connection errors, HTTP 5xx or truncated bodies (pauses 1, 2, 4, ... s).")
@click.option("--timeout", type=FiniteFloatRange(0, 86400, min_open=True), default=60.0, show_default=True,
              help="Seconds without data before a connection counts as lost.")
@click.option("--list-categories", is_flag=True, expose_value=False, is_eager=True, callback=_list_categories,
              help="Print the 345 official category names and exit.")
@user_errors
def download(categories, fmt, out, base_url, jobs, retries, timeout) -> None:
    """Download Quick, Draw! files (Google Creative Lab, CC BY 4.0) into --out.

    Interrupted or failed files resume where they stopped on the next run; a file
    appears under its final name only once complete and verified against the served
    size. Exits with status 1 if any file failed.
    """
    from tqdm import tqdm

    from qdimd.strokes.categories import CATEGORIES, check_categories
    from qdimd.strokes.download import download as run_download

    names = list(CATEGORIES) if categories is None else check_categories(categories)
    out = out or f"quickdraw/{fmt}"
    lock = threading.Lock()
    bars: list = []  # made at the first event, so an early error prints no empty bars

    def progress():
        if not bars:
            bars.append(tqdm(total=len(names), unit="file", desc="files", position=0, dynamic_ncols=True))
            bars.append(tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="bytes", position=1,
                             dynamic_ncols=True, miniters=1))
        return bars

    def on_size(category, total, done):
        with lock:
            bytes_bar = progress()[1]
            if total:
                bytes_bar.total += total
                bytes_bar.refresh()
            bytes_bar.update(done)

    def on_bytes(n):
        with lock:
            progress()[1].update(n)

    def on_file(result):
        with lock:
            progress()[0].update(1)
            if result.status == "failed":
                tqdm.write(f"failed: {result.category}: {result.error}")

    try:
        report = run_download(names, fmt, out, base_url=base_url, jobs=jobs, retries=retries,
                              timeout=timeout, on_size=on_size, on_bytes=on_bytes, on_file=on_file)
    except KeyboardInterrupt:
        report = None
    finally:
        for bar in bars:
            bar.close()
    if report is None:
        click.echo(f"interrupted: partial files are kept as {out}/.<category>.<ext>.part; "
                   "run the same command again to resume", err=True)
        raise SystemExit(130)
    click.echo(report.summary().splitlines()[0] + f" -> {out}")
    if report.failed:
        raise click.ClickException(f"{len(report.failed)} file(s) failed (rerun to retry):\n"
                                   + "\n".join(f"  {r.category}: {r.error}" for r in report.failed))
