"""``inpaint query``: the database images most similar to one image."""
from __future__ import annotations

import click

from .options import device_option, dup_threshold_option, user_errors, vgg_weights_option


@click.command()
@click.argument("db", type=click.Path(exists=True, file_okay=False))
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--k", "k", type=click.IntRange(1, 10**6), default=10, show_default=True, help="Number of images to print.")
@vgg_weights_option
@click.option("--allow-random-vgg", is_flag=True, help="Query a database built with --allow-random-vgg (smoke tests).")
@dup_threshold_option("Also skip results more similar than this (near-duplicates of IMAGE).", show_default="none")
@device_option
@user_errors
def query(db, image, k, vgg_weights, allow_random_vgg, dup_threshold, device):
    """Print the K database images nearest to IMAGE: PATH<TAB>SIMILARITY, best first.

    IMAGE itself is never printed, even when it is in the database (under any
    path to it) or when the database holds a byte-identical copy of it.
    """
    import warnings

    from inpaint.retrieval.database import ImageDB, load_database_vgg
    from inpaint.images import load_image
    from inpaint.retrieval.simk import retrieve_neighbours

    database = ImageDB.load(db)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using a randomly initialised VGG-16")  # --allow-random-vgg said so
        vgg = load_database_vgg(database, vgg_weights, allow_random=allow_random_vgg).to(device)
    size = database.descriptor.size
    sims, ids = retrieve_neighbours(database, load_image(image, (size, size)), k, vgg=vgg, query_path=image,
                                    dup_threshold=dup_threshold, device=device)
    for sim, i in zip(sims, ids):
        click.echo(f"{database.files[i]}\t{sim:.4f}")
