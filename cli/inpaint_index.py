"""``inpaint index``: build (or extend) the Sim-K image database from a folder of photos."""
from __future__ import annotations

import os

import click

from .options import BATCH_SIZE, FiniteFloatRange, device_option, dup_threshold_option, strict_option, user_errors, vgg_weights_option

DUP_THRESHOLD = 0.97   # inpaint.retrieval.simk.DEFAULT_DUP_THRESHOLD (not imported: no torch at CLI start)


@click.command()
@click.option("--images", required=True, type=click.Path(exists=True), help="Folder of photos (recursive) or one image file.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Database folder to create (or extend with --append).")
@vgg_weights_option
@click.option("--allow-random-vgg", is_flag=True,
              help="Without --vgg-weights use a fixed random VGG-16 (smoke tests only: descriptors are meaningless; warns).")
@click.option("--vgg-width", type=FiniteFloatRange(0, 16, min_open=True), default=1.0, show_default=True,
              help="VGG channel multiplier (1 = the real network; tiny values for tests).")
@click.option("--descriptor", type=click.Choice(["pooled", "flat"]), default="pooled", show_default=True,
              help="pooled: conv5_3 averaged over space (512-d); flat: pool5 at 224 px flattened (25,088-d).")
@click.option("--size", type=click.IntRange(32, 1024), default=None, show_default="256 pooled, 224 flat",
              help="Images are resized and centre-cropped to this square side.")
@click.option("--pca", "pca_dim", type=click.IntRange(1, 25088), default=None, help="Reduce descriptors to D dims by PCA (new databases).")
@click.option("--topk", type=click.IntRange(1, 10000), default=None,
              help="Also store each image's K nearest other images (for inpaint train --model simk).")
@dup_threshold_option(
    "With --topk: leave images more similar than this (copies, near-duplicates) out of each "
    "image's neighbours: the threshold of Sim-K's test-time retrieval and of inpaint train.",
    show_default=f"{DUP_THRESHOLD}; none with --allow-random-vgg; the stored one on --append")
@click.option("--append", is_flag=True,
              help="Add images not yet in --out (known paths are skipped; idempotent); keeps the stored descriptor settings.")
@click.option("--batch-size", type=BATCH_SIZE, default=16, show_default=True, help="Images per VGG forward.")
@device_option
@strict_option
@user_errors
def index(images, out, vgg_weights, allow_random_vgg, vgg_width, descriptor, size, pca_dim, topk, dup_threshold, append,
          batch_size, device, strict):
    """Describe every photo under --images with VGG-16 and store the descriptors in --out.

    Unreadable images are reported and skipped (--strict stops at the first).
    Ctrl-C keeps the images described so far; rerun with --append to go on.
    """
    import warnings

    from tqdm import tqdm

    from inpaint.retrieval.database import build_database
    from inpaint.retrieval.weights import vgg_weights_file
    from inpaint.retrieval.descriptors import DescriptorConfig
    from inpaint.images import find_images
    from inpaint.nn.vgg import load_vgg16
    from qdimd.errors import InputError, ProblemLog

    if allow_random_vgg and vgg_weights:
        raise click.UsageError("--allow-random-vgg and --vgg-weights exclude each other")
    from qdimd.io import check_not_input

    check_not_input(out, {"--images": images, "--vgg-weights": vgg_weights}, inside_ok=True)  # no image files in a database
    if dup_threshold is None and not append and not allow_random_vgg:   # random descriptors: similarities mean nothing
        dup_threshold = DUP_THRESHOLD
    ctx = click.get_current_context()
    explicit = any(ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
                   for name in ("descriptor", "size", "pca_dim"))
    config = DescriptorConfig(descriptor, size or (224 if descriptor == "flat" else 256), pca_dim)
    if append and not explicit:
        config = None  # the database's own settings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vgg = load_vgg16(vgg_weights, allow_random=allow_random_vgg, width=vgg_width).to(device)
    if allow_random_vgg and not vgg_weights:
        click.echo("warning: random VGG-16 weights (--allow-random-vgg): retrieval is meaningless", err=True)
    problems = ProblemLog(strict=strict)
    paths = find_images(images)
    with tqdm(total=len(paths), unit=" images", desc="index", dynamic_ncols=True) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        try:
            source = "random" if allow_random_vgg else vgg_weights_file(vgg_weights)  # its SHA-256 is recorded
            db = build_database(paths, out, vgg=vgg, vgg_source=source, descriptor=config, append=append, topk=topk,
                                topk_dup_threshold=dup_threshold, batch_size=batch_size, problems=problems,
                                progress=progress, device=device)
        except InputError as exc:
            if len(problems):
                raise click.ClickException(f"{exc}\n{problems.summary()}") from None
            raise
    topk_text = f", {db.topk.shape[1]} neighbours each" if db.topk is not None else ""
    click.echo(f"{out}: {len(db):,} images, {db.dim}-d {db.descriptor.kind} descriptors{topk_text}")
    gone = [f for f in db.files if not os.path.exists(f)] if append else []
    if gone:
        click.echo(f"warning: {len(gone):,} indexed image(s) no longer exist (first {gone[0]}); --append keeps their "
                   f"descriptors, so retrieval may offer them: rebuild into a new --out without --append to drop them",
                   err=True)
    if len(problems):
        click.echo(problems.summary(), err=True)
