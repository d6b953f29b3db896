"""``inpaint train``: train a PConv or Sim-K UNet on a folder of photos with QD-IMD masks."""
from __future__ import annotations

import click

from .options import BATCH_SIZE, COUNT, SIZE, FiniteFloatRange, device_option, worker_range, hole_value_option, kind_callback, seed_option, strict_option, user_errors, vgg_weights_option

MAX_WORKERS = 16   # inpaint.training.photos.MAX_DEFAULT_WORKERS (not imported: the CLI imports no torch at start)
LOSS_WEIGHT = FiniteFloatRange(min=0)


@click.command()
@click.option("--model", "model", default="pconv", show_default=True,
              help="pconv (depth from --size), pconv256, pconv512, sim0, sim1, sim2, simk (with --k).")
@click.option("--images", type=click.Path(file_okay=False), default=None, help="Folder of training photos (recursive).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder: checkpoint.pt, log.csv, samples/.")
@click.option("--size", type=SIZE, default="256", show_default=True, help="Training crop size S or HxW.")
@click.option("--max-steps", type=COUNT, default=100000, show_default=True, help="Stop after this many steps.")
@click.option("--batch-size", type=BATCH_SIZE, default=None, show_default="6 PConv, 12 Sim-K", help="Per-process batch size.")
@click.option("--lr", type=FiniteFloatRange(0, min_open=True), default=None, show_default="2e-4 PConv, 5e-5 --finetune, 1e-4 Sim-K", help="Adam learning rate.")
@click.option("--width", type=FiniteFloatRange(0, 16, min_open=True), default=1.0, show_default=True, help="Channel multiplier (1 = the paper).")
@click.option("--k", "k", type=click.IntRange(0, 64), default=1, show_default=True, help="Auxiliary images of --model simk.")
@click.option("--db", type=click.Path(file_okay=False), default=None, help="Image database with precomputed neighbours (Sim-K).")
@click.option("--finetune", is_flag=True, help="Fine-tune --init-from CKPT with the encoder's BatchNorm frozen (lr 5e-5).")
@click.option("--init-from", "--from", "init_from", type=click.Path(dir_okay=False), default=None,
              help="Start a new run from this checkpoint's weights (other data, size or schedule; same network shape).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where its checkpoint left off.")
@click.option("--masks", type=click.Path(file_okay=False), default=None, help="Folder of mask files instead of generated masks.")
@click.option("--mask-kind", default="qdimd", show_default=True, callback=kind_callback, metavar="KIND[:W,...]",
              help="Kind of the generated masks (qdimd.kinds: lama-train, mat, deepfill, ... or a mixture such as "
                   "lama-train:0.5,qdimd:0.5); see docs/mask-kinds.md.")
@hole_value_option
@click.option("--loss-weights", type=(LOSS_WEIGHT,) * 5, default=(1.0, 6.0, 0.05, 120.0, 0.1),
              show_default=True, metavar="VALID HOLE PERC STYLE TV", help="Weights of the loss terms (the paper's); finite, >= 0.")
@click.option("--augment/--no-augment", "augment", default=None, show_default="PConv augment, Sim-K not (Iskakov 5.1)",
              help="Augment masks, generated or --masks files (dilation, rotation, crop, flips).")
@seed_option
@vgg_weights_option
@click.option("--allow-random-vgg", is_flag=True, help="Without VGG weights use a random VGG-16 (smoke tests only; warns).")
@click.option("--vgg-width", type=FiniteFloatRange(0, 16, min_open=True), default=1.0, hidden=True)
@click.option("--checkpoint-every", type=COUNT, default=1000, show_default=True, help="Steps between checkpoints.")
@click.option("--keep-checkpoints", type=click.IntRange(0, 10**6), default=3, show_default=True,
              help="Step-numbered checkpoints kept in OUT/checkpoints/ (the newest; 0: only checkpoint.pt).")
@click.option("--log-every", type=COUNT, default=10, show_default=True,
              help="Steps between log.csv rows (means over the interval); the only time values are read from the device.")
@click.option("--sample-every", type=COUNT, default=500, show_default=True, help="Steps between sample grids.")
@click.option("--val-every", type=COUNT, default=None, help="Steps between validations (needs --val-images).")
@click.option("--val-images", type=click.Path(file_okay=False), default=None, help="Folder of validation photos.")
@click.option("--val-masks", type=click.Path(file_okay=False), default=None,
              help="Validation mask split (qdimd bucket); default: a small bucketed split from the test categories.")
@click.option("--max-bad-steps", type=COUNT, default=10, show_default=True,
              help="Stop (exit 1) after this many consecutive steps with a non-finite loss or gradient (each is skipped).")
@click.option("--ema", type=FiniteFloatRange(0, 1, min_open=True, max_open=True), default=None, metavar="DECAY",
              help="Keep an exponential moving average of the weights (e.g. 0.999); validated and saved.")
@click.option("--clip-grad", type=FiniteFloatRange(0, 1e6, min_open=True), default=None, metavar="NORM",
              help="Clip the total gradient norm to NORM.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model and the loss.")
@click.option("--workers", type=worker_range(0), default=None,
              show_default=f"cores available / processes per node, at most {MAX_WORKERS}",
              help="Data loader worker processes (0: load in the training process).")
@device_option
@click.option("--dist-timeout", type=FiniteFloatRange(min=0, min_open=True), default=3600.0, show_default=True,
              metavar="SECONDS", help="Multi-process runs (torchrun): how long a process waits for the others at a "
                                      "collective before the run fails (NCCL's own default is 600).")
@click.option("--no-amp", is_flag=True, help="Disable bf16 autocast on CUDA.")
@strict_option
@user_errors
def train(**opts) -> None:
    """Train an inpainting model; Ctrl-C saves a checkpoint, --resume continues it.

    Multi-GPU / multi-node: torchrun --nproc-per-node G "$(which inpaint)" train ...
    """
    import signal
    import sys

    from tqdm import tqdm

    from qdimd.errors import ProblemLog
    from qdimd.io import check_not_input
    from inpaint.checkpoint import NonFiniteError

    # inside --images, its sample grids would be read as photos by the next run
    check_not_input(opts["out"], {f"--{k.replace('_', '-')}": opts[k] for k in
                                  ("images", "masks", "db", "val_images", "val_masks", "init_from", "vgg_weights")})
    from inpaint.training.distributed import env_dist_info
    from inpaint.training.loop import TrainConfig, train as run_training

    config = TrainConfig(
        model=opts["model"], out=opts["out"], images=opts["images"], db=opts["db"], k=opts["k"], size=opts["size"],
        width=opts["width"], max_steps=opts["max_steps"], batch_size=opts["batch_size"], lr=opts["lr"],
        finetune=opts["finetune"], init_from=opts["init_from"], resume=opts["resume"], masks=opts["masks"],
        hole_value=opts["hole_value"], augment_masks=opts["augment"], loss_weights=opts["loss_weights"], seed=opts["seed"],
        vgg_weights=opts["vgg_weights"], allow_random_vgg=opts["allow_random_vgg"], vgg_width=opts["vgg_width"],
        checkpoint_every=opts["checkpoint_every"], keep_checkpoints=opts["keep_checkpoints"], log_every=opts["log_every"],
        sample_every=opts["sample_every"], val_every=opts["val_every"], val_images=opts["val_images"],
        val_masks=opts["val_masks"], max_bad_steps=opts["max_bad_steps"], ema=opts["ema"], clip_grad=opts["clip_grad"],
        compile=opts["compile_"], workers=opts["workers"], device=opts["device"], amp=not opts["no_amp"],
        mask_kind=opts["mask_kind"] or "qdimd", dist_timeout=opts["dist_timeout"],
    )
    main = env_dist_info().is_main
    problems = ProblemLog(strict=opts["strict"])
    bars = []   # made at the first step: set-up errors print no empty bar; a resumed run starts at its step

    def on_step(step: int, losses: dict[str, float]) -> None:
        if not bars:
            if problems:  # unreadable files are known once the data is scanned: say so now, not hours later
                tqdm.write(problems.summary(), file=sys.stderr)
            bars.append(tqdm(total=config.max_steps, initial=step - 1, desc="train", unit="step", disable=not main,
                             dynamic_ncols=True))
        if losses:   # the last logged interval's means (reading every step would stall the device)
            bars[0].set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        bars[0].update(1)

    def stop(signum, frame):  # SIGTERM (schedulers, torchrun) stops like Ctrl-C: checkpoint, then exit
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        result = run_training(config, on_step=on_step, problems=problems)
    except KeyboardInterrupt:
        if not main:   # rank 0 writes the checkpoint and says so
            raise click.ClickException("interrupted") from None
        if not bars:   # stopped while setting up: no step ran, nothing new was saved
            raise click.ClickException("interrupted before the first step; no checkpoint written") from None
        raise click.ClickException(f"interrupted; checkpoint saved in {config.out} (continue with --resume)") from None
    except NonFiniteError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        for bar in bars:
            bar.close()
    if main:
        if problems and not bars:   # no step ran (resumed a finished run): report here
            click.echo(problems.summary(), err=True)
        click.echo(f"step {result.step}: checkpoint {config.out}/checkpoint.pt")
