"""``inpaint eval``: Table 1 (L1, PSNR, SSIM, Inception score per bucket and border group) for any methods."""
from __future__ import annotations

import click

from .options import SIZE, user_errors, vgg_weights_option


@click.command("eval")
@click.option("--images", "images", type=click.Path(), required=True, help="Folder of ground-truth photos (searched recursively).")
@click.option("--masks", "masks", type=click.Path(), required=True,
              help="A `qdimd bucket` split (manifest.csv), or a folder of masks whose buckets are measured.")
@click.option("--method", "methods", multiple=True, required=True,
              help="[LABEL=]identity | telea | ns | pconv:CKPT | sim0:CKPT | simk:CKPT:DB[:COARSE]; repeat for several.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Report folder; rerun to resume.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N images per (bucket, group).  [default: all]")
@click.option("--seed", type=int, default=0, show_default=True, help="Pairing seed: which image meets which mask in each group.")
@click.option("--size", type=SIZE, default=None,
              help="Evaluate at S or HxW: masks resized (nearest) and re-bucketed.  [default: the masks' size]")
@click.option("--hole-value", type=click.Choice(["255", "0"]), default="255", show_default=True,
              callback=lambda c, p, v: int(v), help="Hole pixel value of masks whose manifest row does not say.")
@click.option("--no-iscore", is_flag=True, help="Skip the Inception score.")
@click.option("--is-splits", type=click.IntRange(min=1), default=10, show_default=True, help="Inception-score splits per cell.")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="torchvision Inception-v3 state dict (inception_v3_google-0cc3c7bd.pth); default: torch.hub's cache, else download.")
@click.option("--allow-random-inception", is_flag=True, help="Fixed random Inception weights instead of the published ones, with a warning (smoke tests; scores meaningless).")
@vgg_weights_option
@click.option("--allow-random-vgg", is_flag=True, help="Accept a Sim-K database built with random VGG-16 weights (smoke tests).")
@click.option("--device", default="cpu", show_default=True, help="Torch device for the models.")
@user_errors
def evaluate(images, masks, methods, out, limit, seed, size, hole_value, no_iscore, is_splits, inception_weights,
             allow_random_inception, vgg_weights, allow_random_vgg, device):
    """Score inpainting METHODs on IMAGES under the masks of a bucket split, per bucket and border group.

    Writes OUT/report.md, results.csv, results.json, per_image.csv and grid_<bucket>.png.
    A killed run continues where it stopped when rerun with the same options.
    """
    from tqdm import tqdm

    from inpaint.evaluation.evaluate import EvalConfig, plan_evaluation, run_evaluation
    from inpaint.evaluation.report import write_report
    from qdimd.errors import ProblemLog

    config = EvalConfig(
        images=images, masks=masks, methods=tuple(methods), out=out, seed=seed, limit=limit, size=size,
        hole_value=hole_value, iscore=not no_iscore, is_splits=is_splits, inception_weights=inception_weights,
        allow_random_inception=allow_random_inception, vgg_weights=vgg_weights,
        allow_random_vgg=allow_random_vgg, device=device,
    )
    problems = ProblemLog()
    plan = plan_evaluation(config, problems=problems)
    if problems:
        click.echo(problems.summary(), err=True)
    if plan.scaled_note:
        click.echo(f"note: {plan.scaled_note}", err=True)
    pending = plan.pending
    done = len(plan.pairs) - len(pending)
    if done:
        click.echo(f"resuming: {done} of {len(plan.pairs)} image/mask pairs already done", err=True)
    for _ in tqdm(run_evaluation(plan), total=len(pending), desc="eval", unit="image", disable=not pending):
        pass
    files = write_report(plan)
    click.echo(f"{len(plan.pairs)} image/mask pairs x {len(plan.specs)} methods -> {files['report']}")
