"""``qdimd preview``: a contact sheet of masks with their hole ratios."""
from __future__ import annotations

import click

from .options import SIZE, kind_option, seed_option, user_errors


MAX_SHEET_PIXELS = 2**27
"""Largest contact sheet (--n x --cell x --cell), 134 M px: 4096 cells of 181 px, or 128 of 1024."""


@click.command()
@click.argument("source", required=False, type=click.Path(exists=True), metavar="[DIR|MANIFEST]")
@click.option("--n", "n", type=click.IntRange(min=1, max=4096), default=64, show_default=True,
              help="Masks on the sheet (the first N of SOURCE, or N generated on the fly without SOURCE).")
@click.option("--size", type=SIZE, default="256", show_default=True, help="Size of generated masks (without SOURCE).")
@seed_option
@click.option("--columns", type=click.IntRange(1, 4096), default=8, show_default=True, help="Masks per row.")
@click.option("--cell", type=click.IntRange(min=8, max=1024), default=128, show_default=True, help="Cell side in px.")
@click.option("--hole-value", type=click.Choice(["auto", "255", "0"]), default="auto", show_default=True,
              help="Polarity of SOURCE's files; auto = its config.json, else 255 (white holes).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@kind_option
@user_errors
def preview(source, n, size, seed, columns, cell, hole_value, out, kind):
    """Write a contact sheet of masks (holes white) labelled with their hole ratio.

    SOURCE is a folder written by `qdimd generate` (or its manifest.csv, or any
    folder of mask images); without SOURCE, N masks of --kind are generated on the fly.
    """
    import io

    from qdimd.errors import ProblemLog
    from qdimd.io import atomic_write_bytes, check_not_input
    from qdimd.files.preview import load_folder_masks, render_contact_sheet

    if source is not None and kind is not None:
        raise click.UsageError("--kind applies to generated masks (without SOURCE) only")
    if n * cell * cell > MAX_SHEET_PIXELS:
        raise click.UsageError(f"--n {n} cells of --cell {cell} px make a sheet of {n * cell * cell:,} px; "
                               f"Expected at most {MAX_SHEET_PIXELS:,} (fewer masks or smaller cells)")
    check_not_input(out, {"SOURCE": source}, option="-o")  # inside SOURCE, the sheet would be read as a mask
    problems = ProblemLog()
    if source is not None:
        holes, labels = load_folder_masks(source, n, hole_value=None if hole_value == "auto" else int(hole_value),
                                          cell=cell, problems=problems)
    else:
        from qdimd.files.preview import shrink_hole
        from qdimd.kinds import create_generator
        from qdimd.masks.generator import MaskConfig

        generator = create_generator(MaskConfig(size=size), seed=seed, kind=kind)
        holes, labels = [], []
        for i in range(n):  # one full-size mask at a time: 4096 masks of 8192 x 8192 would need 256 GB
            (hole,) = generator.batch(i, 1)
            labels.append(f"#{i} {100 * hole.mean():.1f}%")
            holes.append(shrink_hole(hole, cell))
    buffer = io.BytesIO()
    render_contact_sheet(holes, labels, columns=columns, cell=cell).save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(out, buffer.getvalue())
    if problems:
        click.echo(problems.summary(), err=True)
    click.echo(f"contact sheet of {len(holes)} masks: {out}")
