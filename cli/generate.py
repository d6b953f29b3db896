"""``qdimd generate``: write N QD-IMD masks to a folder (or tar shards)."""
from __future__ import annotations

import click

from .options import SIZE, hole_value_option, seed_option, strict_option, user_errors, workers_option


class PartType(click.ParamType):
    """``K/N`` with 1 <= K <= N; returns ``(K, N)``."""

    name = "K/N"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            k, n = (int(v) for v in str(value).split("/"))
        except ValueError:
            self.fail(f"expected K/N, e.g. 3/8, got {value!r}", param, ctx)
        if not 1 <= k <= n:
            self.fail(f"expected K/N with 1 <= K <= N, got {value!r}", param, ctx)
        return k, n


@click.command()
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Masks in the whole run (all shards).")
@click.option("--size", type=SIZE, default="256", show_default=True, help="S or HxW, e.g. 512 or 256x512.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@seed_option
@workers_option
@click.option("--strokes", multiple=True, type=click.Path(), metavar="PATH",
              help="Stroke source (repeatable): a .qds store, .ndjson[.gz]/.bin/.npz files, folders or globs. "
                   "Default: the bundled Quick, Draw! sample.")
@click.option("--resume", is_flag=True, help="Complete an interrupted run in --out (finished masks are kept).")
@strict_option
@hole_value_option
@click.option("--layout", type=click.Choice(["plain", "qdimd"]), default="plain", show_default=True,
              help="File names: plain = 00000000.png by index; qdimd = the original 00001_train.png.")
@click.option("--format", "fmt", type=click.Choice(["png", "tar"]), default="png", show_default=True,
              help="png files, or WebDataset-style tar shards shard-000000.tar.")
@click.option("--shard-size", type=click.IntRange(min=1), default=10000, show_default=True, help="Masks per tar shard.")
@click.option("--shard", "part", type=PartType(), default=None,
              help="Write only part K of N disjoint contiguous index ranges (global indices kept).")
@click.option("--split", type=click.Choice(["train", "test"]), default=None,
              help="Draw strokes only from the train or test half of the categories (default: all).")
@click.option("--renderer", type=click.Choice(["auto", "cairo", "opencv"]), default="auto", show_default=True,
              help="auto = cairo if libcairo loads, else OpenCV.")
@click.option("--strokes-mean", type=float, default=4.0, show_default=True, help="Strokes per mask ~ round(N(mean, std)).")
@click.option("--strokes-std", type=click.FloatRange(min=0), default=2.0, show_default=True, help="See --strokes-mean.")
@click.option("--min-strokes", type=click.IntRange(min=1), default=1, show_default=True, help="Lower clip of the stroke count.")
@click.option("--width-min", type=float, default=5.0, show_default=True, help="Stroke width ~ U(min, max) px at --reference-size.")
@click.option("--width-max", type=float, default=15.0, show_default=True, help="See --width-min.")
@click.option("--reference-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Side at which widths hold; they scale with min(H, W) / reference size.")
@click.option("--upscale-min", type=float, default=1.0, show_default=True, help="Upscale ~ U(min, max) before the centre crop.")
@click.option("--upscale-max", type=float, default=1.5, show_default=True, help="See --upscale-min.")
@click.option("--allow-empty", is_flag=True,
              help="Keep masks whose strokes all fall outside the centre crop (Algorithm 1 as printed: ~0.8% empty masks).")
@click.option("--augment", is_flag=True, help="Also apply the PConv mask augmentation (dilation, rotation, crop, flips).")
@user_errors
def generate(n, size, out, seed, workers, strokes, resume, strict, hole_value, layout, fmt, shard_size, part, split,
             renderer, strokes_mean, strokes_std, min_strokes, width_min, width_max, reference_size, upscale_min,
             upscale_max, allow_empty, augment):
    """Generate N masks (Iskakov 2018, Algorithm 1) into --out.

    Writes one single-channel PNG per mask (hole = --hole-value), manifest.csv
    (index, file, hole_ratio, border_distance, params) and config.json. Mask i
    of --seed is the same whatever --workers or --shard; --resume completes an
    interrupted run with exactly the files of an uninterrupted one.
    """
    from tqdm import tqdm

    from qdimd.errors import InputError, ProblemLog
    from qdimd.masks.generator import MaskConfig
    from qdimd.strokes.builder import open_strokes
    from qdimd.files.writer import execute, prepare_run

    augment_config = None
    if augment:
        from qdimd.masks.augment import AugmentConfig

        augment_config = AugmentConfig()
    config = MaskConfig(size=size, strokes_mean=strokes_mean, strokes_std=strokes_std, min_strokes=min_strokes,
                        width_min=width_min, width_max=width_max, reference_size=reference_size,
                        upscale_min=upscale_min, upscale_max=upscale_max, split=split, renderer=renderer, allow_empty=allow_empty,
                        augment=augment_config)
    problems = ProblemLog(strict=strict)
    bars = []

    def indexing(count: int) -> None:  # a bar only when sources are streamed into a temporary store
        if not bars:
            bars.append(tqdm(unit=" drawings", unit_scale=True, desc="index strokes", dynamic_ncols=True))
        bars[0].update(count)

    try:
        store = open_strokes(list(strokes) or None, problems=problems, progress=indexing)
    except InputError as exc:
        raise click.ClickException(f"{exc}\n{problems.summary()}" if len(problems) else str(exc)) from None
    finally:
        for bar in bars:
            bar.close()
    if len(problems):
        click.echo(problems.summary(), err=True)
    run = prepare_run(out, config, store, n=n, seed=seed, hole_value=hole_value, layout=layout, fmt=fmt,
                      shard_size=shard_size, part=part, resume=resume, sources=list(strokes))
    label = "" if part is None else f" (part {part[0]}/{part[1]}: " + (
        f"indices {run.first}..{run.stop - 1})" if run.total else f"nothing: {part[1]} parts for {n} masks)")
    try:
        with tqdm(total=run.total, initial=run.total - run.todo, unit="mask", desc="generate", dynamic_ncols=True) as bar:
            for count in execute(run, workers):
                bar.update(count)
    except KeyboardInterrupt:
        raise click.ClickException(f"interrupted: only complete files were kept; rerun with --resume to finish {out}") from None
    click.echo(f"{run.total} masks{label} in {out} (manifest: {run.manifest.name}, config.json)")
