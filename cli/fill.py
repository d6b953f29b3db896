"""``inpaint fill``: inpaint images (files or folders) with OpenCV baselines, PConv or Sim-K."""
from __future__ import annotations

import click

from .options import device_option, simk_dup_threshold_option, hole_value_option, seed_option, strict_option, user_errors, vgg_weights_option

METHODS = ("telea", "ns", "pconv", "simk")


@click.command()
@click.argument("image", type=click.Path())
@click.argument("mask", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(), help="Output file (or folder when IMAGE and MASK are folders).")
@click.option("--method", type=click.Choice(METHODS), default="pconv", show_default=True,
              help="telea/ns: OpenCV baselines; pconv: a trained PConv (or Sim-0) checkpoint; simk: two-step Sim-K.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None, help="Checkpoint from `inpaint train` (pconv, simk).")
@hole_value_option
@click.option("--radius", type=click.IntRange(1, 1000), default=5, show_default=True, help="Neighbourhood radius of telea/ns.")
@click.option("--tile", type=click.IntRange(16, 8192), default=None, help="Inpaint in overlapping TILE x TILE windows (large images).")
@device_option
@click.option("--db", type=click.Path(file_okay=False), default=None, help="Image database (simk).")
@click.option("--coarse", type=click.Path(dir_okay=False), default=None, help="PConv checkpoint for the coarse pass of simk (default: Telea).")
@click.option("--aux", type=click.Choice(["retrieved", "random", "noise"]), default="retrieved", show_default=True,
              help="simk auxiliary images: retrieved (the method), random database images or noise (ablation).")
@click.option("--save-neighbours", is_flag=True, help="simk: also write the auxiliary images next to each output.")
@vgg_weights_option
@click.option("--allow-random-vgg", is_flag=True, help="simk without VGG weights: random VGG-16 (smoke tests only; warns).")
@simk_dup_threshold_option("simk", "the query")
@seed_option
@strict_option
@user_errors
def fill(image, mask, out, method, checkpoint, hole_value, radius, tile, device, db, coarse, aux, save_neighbours,
         vgg_weights, allow_random_vgg, dup_threshold, seed, strict) -> None:
    """Inpaint IMAGE where MASK marks holes; IMAGE and MASK may both be folders (paired by name)."""
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from qdimd.errors import InputError, ProblemLog
    from inpaint.fill.files import check_fill_polarity, load_pair, pair_files
    from inpaint.images import save_image

    if method in ("pconv", "simk") and checkpoint is None:
        raise click.UsageError(f"--method {method} needs --checkpoint CKPT")
    if method != "simk" and (db or coarse or save_neighbours):
        raise click.UsageError("--db, --coarse and --save-neighbours apply to --method simk only")
    if method == "simk" and db is None:
        raise click.UsageError("--method simk needs --db DB")
    if method != "simk" and dup_threshold is not None:
        raise click.UsageError("--dup-threshold applies to --method simk only")
    if tile is not None and method != "pconv":
        raise click.UsageError(f"--tile applies to --method pconv only, got --method {method}")
    from qdimd.io import check_not_input

    check_not_input(out, {"IMAGE": image, "MASK": mask, "--checkpoint": checkpoint, "--db": db, "--coarse": coarse,
                          "--vgg-weights": vgg_weights}, option="-o")
    problems = ProblemLog(strict=strict)
    triples = pair_files(image, mask, out, problems)
    check_fill_polarity(triples, mask, hole_value, problems)
    run = _method(method, checkpoint, radius, tile, device, db, coarse, aux, vgg_weights, allow_random_vgg, seed,
                  dup_threshold)
    written = 0
    for image_path, mask_path, out_path in tqdm(triples, desc="fill", unit="img", disable=len(triples) < 2):
        try:
            img, hole = load_pair(image_path, mask_path, hole_value)
            result, neighbours = run(img, hole, image_path)
        except InputError as exc:
            if len(triples) == 1:
                raise
            message = str(exc)
            problems.add(str(image_path), None, message.removeprefix(f"{image_path}: "))
            continue
        save_image(out_path, result)
        written += 1
        for i, (src, sim, aux_img) in enumerate(neighbours if save_neighbours else []):
            save_image(Path(out_path).with_name(f"{Path(out_path).stem}.neighbour{i}.png"), np.asarray(aux_img))
            click.echo(f"{out_path}\tneighbour{i}\t{src}\t{sim:.4f}")
    if triples and not written:
        raise click.ClickException(f"no image written to {out}: every pair was skipped\n{problems.summary()}")
    if problems:
        click.echo(problems.summary(), err=True)
    click.echo(f"wrote {written} image(s) to {out}")


def _method(method, checkpoint, radius, tile, device, db, coarse, aux, vgg_weights, allow_random_vgg, seed, dup_threshold):
    """``run(image, hole, path) -> (composite, neighbours)`` with models loaded once."""
    if method in ("telea", "ns"):
        from inpaint.fill.classical import fill_classical

        return lambda image, hole, path: (fill_classical(image, hole, method, radius), [])
    from inpaint.checkpoint import load_checkpoint
    from inpaint.device import resolve_device
    from inpaint.nn.unet import SimKUNet

    dev = resolve_device(device)
    model, info = load_checkpoint(checkpoint, map_location=dev)
    if method == "pconv":
        if isinstance(model, SimKUNet) and model.k:
            raise click.UsageError(f"{checkpoint} is a Sim-{model.k} model: use --method simk --db DB")
        if tile is not None and tile % model.multiple:
            raise click.UsageError(f"Expected --tile to be a multiple of {model.multiple} for {info['model']}, got {tile}")
        from inpaint.fill.unet import fill_image

        return lambda image, hole, path: (fill_image(model, image, hole, device=dev, tile=tile), [])
    if not isinstance(model, SimKUNet) or not model.k:
        raise click.UsageError(f"{checkpoint} holds {info['model']}, not a Sim-K model with k >= 1: use --method pconv")
    import numpy as np

    from inpaint.retrieval.database import ImageDB, load_database_vgg
    from inpaint.retrieval.simk import default_dup_threshold, fill_simk

    database = ImageDB.load(db)
    coarse_model = load_checkpoint(coarse, map_location=dev)[0] if coarse else None
    # The network that built the database (same width; random only if it was built so).
    vgg = load_database_vgg(database, vgg_weights, allow_random=allow_random_vgg) if aux == "retrieved" else None
    rng = np.random.default_rng(seed)
    threshold = default_dup_threshold(database) if dup_threshold is None else dup_threshold

    def run(image, hole, path):
        return fill_simk(model, image, hole, database, coarse_model=coarse_model, aux=aux, rng=rng, vgg=vgg,
                         query_path=path, dup_threshold=threshold, device=dev)

    return run
