"""``inpaint pairs``: write the image/mask pairs ``inpaint eval`` scores, in LaMa's, IOPaint's and MAT's layouts."""
from __future__ import annotations

import click

from .options import SIZE, user_errors


@click.command("pairs")
@click.option("--images", "images", type=click.Path(), required=True, help="Folder of ground-truth photos (searched recursively).")
@click.option("--masks", "masks", type=click.Path(), required=True,
              help="A `qdimd bucket` split (manifest.csv), or a folder of masks whose buckets are measured.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for manifest.csv, lama/, images/, masks/ (255 = hole) and masks_keep/ (255 = known).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N images per (bucket, group).  [default: all]")
@click.option("--seed", type=int, default=0, show_default=True, help="Pairing seed: which image meets which mask in each group.")
@click.option("--size", type=SIZE, default=None,
              help="Pairs at S or HxW: masks resized (nearest) and re-bucketed.  [default: the masks' size]")
@click.option("--hole-value", type=click.Choice(["255", "0"]), default="255", show_default=True,
              callback=lambda c, p, v: int(v), help="Hole pixel value of masks whose manifest row does not say.")
@user_errors
def pairs(images, masks, out, limit, seed, size, hole_value):
    """Write the pairs that `inpaint eval` with the same options scores, for other tools to predict.

    Run your model on OUT/lama (LaMa), OUT/images + OUT/masks (IOPaint, diffusers) or
    OUT/images + OUT/masks_keep (MAT, CoModGAN), then score its outputs with
    `inpaint eval ... --method NAME=folder:PREDICTIONS` and the same --images/--masks/--seed/--size/--limit.
    """
    from tqdm import tqdm

    from inpaint.evaluation.export_pairs import plan_pairs, write_pairs
    from inpaint.evaluation.plan import EvalConfig
    from qdimd.errors import ProblemLog

    problems = ProblemLog()
    config = EvalConfig(images=images, masks=masks, methods=(), out=out, seed=seed, limit=limit, size=size,
                        hole_value=hole_value)
    plan = plan_pairs(config, problems=problems)
    if problems:
        click.echo(problems.summary(), err=True)
    for _ in tqdm(write_pairs(plan), total=len(plan.pairs), desc="pairs", unit="pair"):
        pass
    h, w = plan.size
    click.echo(f"{len(plan.pairs)} image/mask pairs at {h}x{w} -> {out}/manifest.csv")
