"""``qdimd generate``: write N QD-IMD masks to a folder (or tar shards)."""
from __future__ import annotations

import click
from click.core import ParameterSource

from .options import SIZE, hole_value_option, kind_option, seed_option, strict_option, user_errors, workers_option

PRESETS: dict[str, dict] = {
    # karfly/qd-imd generate_dataset.py's argparse defaults (its mask_generator module was not published):
    # 512x512, 50,000 train and 10,000 test masks from disjoint halves of the categories, widths 5..15 px
    # of the 512 px output, upscale up to 1.5, masks without a hole skipped, black holes ("mask == False"
    # counts holes), files train/00000_train.png ... counted from 0.
    "qd-imd": {"size": (512, 512), "reference_size": 512, "layout": "qdimd", "hole_value": 0,
               "strokes_mean": 4.0, "strokes_std": 2.0, "width_min": 5.0, "width_max": 15.0,
               "upscale_min": 1.0, "upscale_max": 1.5, "n": {"train": 50000, "test": 10000}},
}


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
@click.option("--n", "n", type=click.IntRange(min=1, max=10**9), default=None,
              help="Masks in the whole run (all shards); required unless --preset sets it.")
@click.option("--size", type=SIZE, default="256", show_default=True, help="S or HxW, e.g. 512 or 256x512.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="qd-imd: the original driver's defaults (512x512, --reference-size 512, --layout qdimd, "
                   "--hole-value 0; OUT/train with 50,000 and OUT/test with 10,000 masks, or --split for one). "
                   "Options given explicitly override it.")
@seed_option
@workers_option
@click.option("--strokes", multiple=True, type=click.Path(), metavar="PATH",
              help="Stroke source (repeatable): a .qds store, .ndjson[.gz]/.bin/.npz files, folders or globs. "
                   "Default: the bundled Quick, Draw! sample.")
@click.option("--resume", is_flag=True, help="Complete an interrupted run in --out (finished masks are kept).")
@strict_option
@hole_value_option
@click.option("--png-bits", type=click.Choice(["8", "1"]), default="8", show_default=True, callback=lambda c, p, v: int(v),
              help="PNG bit depth: 8 (grey 0/255) or 1 (smaller, faster; OpenCV, torchvision and PIL's "
                   "convert('L') read 0/255, PIL's own mode '1' gives bool).")
@click.option("--layout", type=click.Choice(["plain", "qdimd"]), default="plain", show_default=True,
              help="File names: plain = 00000000.png by index; qdimd = the original 00000_train.png (from 0).")
@click.option("--format", "fmt", type=click.Choice(["png", "tar"]), default="png", show_default=True,
              help="png files, or WebDataset-style tar shards shard-000000.tar.")
@click.option("--shard-size", type=click.IntRange(1, 10**7), default=10000, show_default=True, help="Masks per tar shard.")
@click.option("--shard", "part", type=PartType(), default=None,
              help="Write only part K of N disjoint contiguous index ranges (global indices kept).")
@click.option("--split", type=click.Choice(["train", "test"]), default=None,
              help="Draw strokes only from the train or test half of the categories (default: all).")
@click.option("--renderer", type=click.Choice(["auto", "cairo", "opencv"]), default="auto", show_default=True,
              help="auto = cairo if libcairo loads, else OpenCV (config.json records the one used).")
@click.option("--strokes-mean", type=float, default=4.0, show_default=True, help="Strokes per mask ~ round(N(mean, std)).")
@click.option("--strokes-std", type=float, default=2.0, show_default=True, help="See --strokes-mean.")
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
@kind_option
@click.pass_context
@user_errors
def generate(ctx, n, size, out, preset, seed, workers, strokes, resume, strict, hole_value, png_bits, layout, fmt,
             shard_size, part, split, renderer, strokes_mean, strokes_std, min_strokes, width_min, width_max,
             reference_size, upscale_min, upscale_max, allow_empty, augment, kind):
    """Generate N masks (Iskakov 2018, Algorithm 1) into --out.

    Writes one single-channel PNG per mask (hole = --hole-value), manifest.csv
    (index, file, hole_ratio, border_distance, params) and config.json. Mask i
    of --seed is the same whatever --workers or --shard; --resume completes an
    interrupted run with exactly the files of an uninterrupted one. Every option
    is checked before anything is written. --kind draws the masks of another
    protocol (LaMa, MAT, CoModGAN, DeepFill v2, boxes) or a mixture instead.
    """
    from pathlib import Path

    from qdimd.errors import InputError, ProblemLog
    from qdimd.io import check_not_input
    from qdimd.masks.generator import MaskConfig
    from qdimd.strokes.builder import open_strokes

    options = dict(n=n, size=size, layout=layout, hole_value=hole_value, strokes_mean=strokes_mean,
                   strokes_std=strokes_std, width_min=width_min, width_max=width_max, reference_size=reference_size,
                   upscale_min=upscale_min, upscale_max=upscale_max)
    runs = [(Path(out), split)]
    if preset is not None:
        given = {k for k in options if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
        if split is None and "n" in given:
            raise click.UsageError(f"--preset {preset} writes {out}/train and {out}/test with their own counts; "
                                   "add --split train or --split test to set --n for one of them")
        options.update({k: v for k, v in PRESETS[preset].items() if k not in given})
        runs = [(Path(out) / s, s) for s in ([split] if split else ["train", "test"])]
    elif n is None:
        raise click.UsageError("Missing option '--n' (or choose a --preset)")
    augment_config = None
    if augment:
        from qdimd.masks.augment import AugmentConfig

        augment_config = AugmentConfig()
    configs = [MaskConfig(size=options["size"], strokes_mean=options["strokes_mean"], strokes_std=options["strokes_std"],
                          min_strokes=min_strokes, width_min=options["width_min"], width_max=options["width_max"],
                          reference_size=options["reference_size"], upscale_min=options["upscale_min"],
                          upscale_max=options["upscale_max"], split=s, renderer=renderer, allow_empty=allow_empty,
                          augment=augment_config) for _, s in runs]  # bad values fail here, before any stroke is read
    check_not_input(out, {"--strokes": list(strokes)}, inside_ok=True)  # masks are not stroke files
    problems = ProblemLog(strict=strict)
    store = _open_store(open_strokes, list(strokes), problems, InputError)
    if len(problems):
        click.echo(problems.summary(), err=True)
    counts = [options["n"][s] if isinstance(options["n"], dict) else options["n"] for _, s in runs]
    if len(runs) > 1:  # both halves must be able to start before the first writes anything
        from qdimd.masks.generator import MaskGenerator

        for config in configs:
            MaskGenerator(config, store, seed)
    for (folder, _), config, count in zip(runs, configs, counts):
        _write(folder, config, store, count, seed=seed, workers=workers, resume=resume, hole_value=options["hole_value"],
               png_bits=png_bits, layout=options["layout"], fmt=fmt, shard_size=shard_size, part=part, sources=list(strokes),
               kind=kind)


def _open_store(open_strokes, strokes, problems, input_error):
    """The stroke store, with a progress bar only while sources are streamed into a temporary store."""
    from tqdm import tqdm

    bars = []

    def indexing(count: int) -> None:
        if not bars:
            bars.append(tqdm(unit=" drawings", unit_scale=True, desc="index strokes", dynamic_ncols=True))
        bars[0].update(count)

    try:
        return open_strokes(strokes or None, problems=problems, progress=indexing)
    except input_error as exc:
        raise click.ClickException(f"{exc}\n{problems.summary()}" if len(problems) else str(exc)) from None
    finally:
        for bar in bars:
            bar.close()


def _write(out, config, store, n, *, workers, part, **options) -> None:
    """One run into ``out``: prepare (checks everything, then writes config.json), execute with a progress bar."""
    from tqdm import tqdm

    from qdimd.files.writer import execute, prepare_run

    run = prepare_run(out, config, store, n=n, part=part, **options)
    label = "" if part is None else f" (part {part[0]}/{part[1]}: " + (
        f"indices {run.first}..{run.stop - 1})" if run.total else f"nothing: {part[1]} parts for {n} masks)")
    try:
        with tqdm(total=run.total, initial=run.total - run.todo, unit="mask", desc="generate", dynamic_ncols=True) as bar:
            for count in execute(run, workers):
                bar.update(count)
    except KeyboardInterrupt:
        raise click.ClickException(f"interrupted: only complete files were kept; rerun with --resume to finish {out}") from None
    click.echo(f"{run.total} masks{label} in {out} (manifest: {run.manifest.name}, config.json)")
