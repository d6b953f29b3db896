"""``qdimd index``: build a stroke store from Quick, Draw! files."""
from __future__ import annotations

import click

from .options import split_names, strict_option, user_errors


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Store file to write (.qds); replaced atomically when done.")
@click.option("--categories", callback=split_names, default=None, metavar="NAME[,NAME...]",
              help="Keep only these categories (default: all).")
@click.option("--recognized-only", is_flag=True, help="Keep only drawings the game recognised.")
@click.option("--chunk", "chunk_drawings", type=click.IntRange(1, 10**7), default=100_000, show_default=True,
              help="Drawings buffered in memory between writes.")
@strict_option
@user_errors
def index(sources, out, categories, recognized_only, chunk_drawings, strict):
    """Stream Quick, Draw! SRC files, folders or globs into one stroke store.

    SRC may be .ndjson or .ndjson.gz (simplified or raw layout), .bin, .npz or
    .qds, folders of them, or quoted globs. Duplicate key_ids are dropped.
    Bad records are skipped and reported (--strict stops at the first).
    """
    from tqdm import tqdm

    from qdimd.strokes.builder import build_store
    from qdimd.errors import InputError, ProblemLog
    from qdimd.io import check_not_input

    check_not_input(out, {"SRC": list(sources)}, inside_ok=True, option="-o")  # a store inside SRC: its duplicates drop

    problems = ProblemLog(strict=strict)
    try:
        with tqdm(unit=" drawings", unit_scale=True, desc="index", dynamic_ncols=True) as bar:
            counts = build_store(sources, out, problems=problems, categories=categories,
                                 recognized_only=recognized_only, chunk_drawings=chunk_drawings, progress=bar.update)
    except InputError as exc:
        if len(problems):  # say why nothing was left
            raise click.ClickException(f"{exc}\n{problems.summary()}") from None
        raise
    click.echo(f"{out}: {counts['drawings']:,} drawings, {counts['strokes']:,} strokes, {counts['points']:,} points "
               f"from {counts['files']} file(s); {counts['duplicates']:,} duplicate key_id(s) dropped")
    if len(problems):
        click.echo(problems.summary(), err=True)
