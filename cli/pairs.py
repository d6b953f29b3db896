"""``inpaint pairs``: write the image/mask pairs ``inpaint eval`` scores, in LaMa's, IOPaint's and MAT's layouts."""
from __future__ import annotations

import click

from .options import pairing_options, strict_option, user_errors, utf8_path


@click.command("pairs")
@pairing_options
@click.option("--out", type=click.Path(file_okay=False), required=True, callback=utf8_path,
              help="Folder for manifest.csv, lama/, images/, masks/ (255 = hole) and masks_keep/ (255 = known).")
@strict_option
@user_errors
def pairs(images, masks, out, limit, seed, size, hole_value, strict):
    """Write the pairs that `inpaint eval` with the same options scores, for other tools to predict.

    Run your model on OUT/lama (LaMa), OUT/images + OUT/masks (IOPaint, diffusers) or
    OUT/images + OUT/masks_keep (MAT, CoModGAN), then score its outputs with
    `inpaint eval ... --method NAME=folder:PREDICTIONS` and the same --images/--masks/--seed/--size/--limit.
    """
    from tqdm import tqdm

    from inpaint.evaluation.export_pairs import plan_pairs, write_pairs
    from inpaint.evaluation.plan import EvalConfig
    from qdimd.errors import ProblemLog

    problems = ProblemLog(strict=strict)
    config = EvalConfig(images=images, masks=masks, methods=(), out=out, seed=seed, limit=limit, size=size,
                        hole_value=hole_value)
    plan = plan_pairs(config, problems=problems)
    if problems:
        click.echo(problems.summary(), err=True)
    for _ in tqdm(write_pairs(plan), total=len(plan.pairs), desc="pairs", unit="pair"):
        pass
    h, w = plan.size
    click.echo(f"{len(plan.pairs)} image/mask pairs at {h}x{w} -> {out}/manifest.csv")
