"""``inpaint eval``: Table 1 (L1, PSNR, SSIM, Inception score; FID, LPIPS, P-IDS/U-IDS on request) per bucket and border group."""
from __future__ import annotations

import click

from .options import (BATCH_SIZE, device_option, pairing_options, simk_dup_threshold_option, strict_option, user_errors,
                      utf8_path, vgg_weights_option)

METRIC_NAMES = ("l1", "psnr", "ssim", "lpips", "iscore", "fid", "pids", "uids")
"""inpaint.evaluation.plan.METRIC_NAMES, repeated so that --help needs no torch import."""


@click.command("eval")
@pairing_options
@click.option("--method", "methods", multiple=True, required=True,
              help="[LABEL=]identity | telea | ns | pconv:CKPT | sim0:CKPT | simk:CKPT:DB[:COARSE] | folder:DIR "
                   "(predictions of `inpaint pairs`' pairs) | py:MODULE:FUNCTION | an inpaint.methods entry point; "
                   "repeat for several.")
@click.option("--resize-preds", is_flag=True,
              help="Resize folder: predictions of another size to the evaluation size (bicubic, recorded) instead of stopping.")
@click.option("--out", type=click.Path(file_okay=False), required=True, callback=utf8_path, help="Report folder; rerun to resume.")
@click.option("--metric", "metrics", multiple=True, type=click.Choice(METRIC_NAMES),
              help="Metric to report; repeat for several.  [default: l1, psnr, ssim, iscore (the papers' Table 1)]")
@click.option("--no-iscore", is_flag=True, help="Skip the Inception score.")
@click.option("--is-splits", type=click.IntRange(1, 1000), default=10, show_default=True, help="Inception-score splits per cell.")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="torchvision Inception-v3 state dict (inception_v3_google-0cc3c7bd.pth); default: torch.hub's cache, else download.")
@click.option("--allow-random-inception", is_flag=True, help="Fixed random Inception weights instead of the published ones, with a warning (smoke tests; scores meaningless).")
@click.option("--fid-weights", type=click.Path(dir_okay=False), default=None,
              help="pytorch-fid's FID Inception (pt_inception-2015-12-05-6726825d.pth) for fid/pids/uids; default: torch.hub's cache, else download.")
@click.option("--lpips-net", type=click.Choice(["alex", "vgg"]), default="alex", show_default=True, help="LPIPS backbone.")
@click.option("--lpips-weights", type=click.Path(dir_okay=False), default=None,
              help="lpips v0.1 linear layers (lpips/weights/v0.1/alex.pth or vgg.pth); default: the installed lpips package, torch.hub's cache, else download.")
@click.option("--alexnet-weights", type=click.Path(dir_okay=False), default=None,
              help="torchvision AlexNet (alexnet-owt-7be5be79.pth), the LPIPS alex backbone; default: torch.hub's cache, else download.")
@click.option("--allow-random-weights", is_flag=True,
              help="Fixed random weights for every metric network whose file is not given, with a warning (smoke tests; values meaningless).")
@click.option("--bins", type=click.Choice(["paper", "lama"]), default="paper", show_default=True,
              help="Report cells: the split's buckets x N/B/all, or LaMa's 10% hole-area bins (report only: rerun to regroup).")
@click.option("--batch-size", type=BATCH_SIZE, default=16, show_default=True,
              help="Pairs scored together; images per metric-network forward.")
@vgg_weights_option
@click.option("--allow-random-vgg", is_flag=True, help="Accept a Sim-K database built with random VGG-16 weights (smoke tests).")
@simk_dup_threshold_option("simk methods", "the photo")
@device_option
@strict_option
@user_errors
def evaluate(images, masks, methods, out, limit, seed, size, hole_value, metrics, no_iscore, is_splits, inception_weights,
             allow_random_inception, fid_weights, lpips_net, lpips_weights, alexnet_weights, allow_random_weights, bins,
             batch_size, vgg_weights, allow_random_vgg, dup_threshold, device, strict, resize_preds):
    """Score inpainting METHODs on IMAGES under the masks of a bucket split, per bucket and border group.

    Writes OUT/report.md, report.html (plots, tables, grids, worst images; self-contained), results.csv, results.json, per_image.csv, grid_<bucket>.png and, for
    fid/pids/uids, features/<method>__<bucket>_<group>.npz (pool3 features, arrays real and fake).
    A killed run continues where it stopped when rerun with the same options.
    """
    from tqdm import tqdm

    import json

    from inpaint.evaluation.evaluate import EvalConfig, plan_evaluation, run_evaluation
    from inpaint.evaluation.plan import DEFAULT_METRICS, check_metrics
    from inpaint.evaluation.report import write_report
    from qdimd.errors import ProblemLog

    chosen = [m for m in (metrics or DEFAULT_METRICS) if not (no_iscore and m == "iscore")]
    if not chosen:
        raise click.UsageError("--no-iscore leaves no metric; add --metric NAME")
    config = EvalConfig(
        images=images, masks=masks, methods=tuple(methods), out=out, seed=seed, limit=limit, size=size,
        hole_value=hole_value, metrics=check_metrics(chosen), is_splits=is_splits, inception_weights=inception_weights,
        allow_random_inception=allow_random_inception, vgg_weights=vgg_weights,
        allow_random_vgg=allow_random_vgg, dup_threshold=dup_threshold, lpips_net=lpips_net, fid_weights=fid_weights, lpips_weights=lpips_weights,
        alexnet_weights=alexnet_weights, allow_random_weights=allow_random_weights, bins=bins, batch_size=batch_size,
        device=device, resize_preds=resize_preds,
    )
    problems = ProblemLog(strict=strict)
    plan = plan_evaluation(config, problems=problems)
    if problems:
        click.echo(problems.summary(), err=True)
    for note in plan.notes:
        click.echo(f"warning: {note}", err=True)
    if plan.scaled_note:
        click.echo(f"note: {plan.scaled_note}", err=True)
    pending = plan.pending
    done = len(plan.pairs) - len(pending)
    if done:
        click.echo(f"resuming: {done} of {len(plan.pairs)} image/mask pairs already done", err=True)
    for _ in tqdm(run_evaluation(plan), total=len(pending), desc="eval", unit="image", disable=not pending):
        pass
    files = write_report(plan)
    for note in json.loads(files["results_json"].read_bytes())["notes"][len(plan.notes):]:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"{len(plan.pairs)} image/mask pairs x {len(plan.specs)} methods -> {files['report']}")
