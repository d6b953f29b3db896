"""Options shared by several commands, defined once (rasterio's ``rio/options.py`` pattern)."""
from __future__ import annotations

import math
import os

import click

from qdimd.errors import InputError, name_problem, printable


class SizeType(click.ParamType):
    """``S`` (square) or ``HxW``; returns ``(H, W)``."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value).lower().strip()
        try:
            parts = [int(p) for p in text.split("x")] if "x" in text else [int(text)] * 2
        except ValueError:
            self.fail(f"expected S or HxW (e.g. 256 or 256x512), got {value!r}", param, ctx)
        if len(parts) != 2 or min(parts) < 16 or max(parts) > 8192:
            self.fail(f"expected S or HxW with sides in 16..8192, got {value!r}", param, ctx)
        return tuple(parts)


SIZE = SizeType()


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf`` (click's range lets NaN through:
    every comparison with it is false)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"expected a finite number, got {value!r}", param, ctx)
        return number


SEED = click.IntRange(0, 2**63 - 1)
"""Every ``--seed``: a non-negative 64-bit signed integer (numpy, torch and the manifests all hold it)."""
MAX_WORKERS = 4 * (os.cpu_count() or 1)
"""Upper bound of every worker-process option: 4 x the cores (more only thrash, and thousands fork until the system refuses)."""
BATCH_SIZE = click.IntRange(1, 4096)
"""Every ``--batch-size`` (images per network forward)."""
COUNT = click.IntRange(1, 10**9)
"""Counts of masks, steps, images: at least 1, at most a billion."""
PIXELS = click.IntRange(0, 8192)
"""Pixel distances and margins (the largest mask side is 8192)."""


def worker_range(minimum: int = 1) -> click.IntRange:
    """Worker processes from ``minimum`` to :data:`MAX_WORKERS`."""
    return click.IntRange(minimum, MAX_WORKERS)


seed_option = click.option("--seed", type=SEED, default=0, show_default=True,
                           help="Random seed (0 to 2**63 - 1); mask i of seed s is always the same.")
workers_option = click.option(
    "--workers", type=worker_range(), default=os.cpu_count() or 1, show_default="all cores",
    help=f"Parallel worker processes (at most 4 x cores = {MAX_WORKERS}).",
)


def dup_threshold_option(text: str, *, show_default: str):
    """``--dup-threshold`` of index, query, fill and eval: a cosine similarity in -1..1 (1 keeps every image)."""
    return click.option("--dup-threshold", type=FiniteFloatRange(-1, 1), default=None, show_default=show_default, help=text)


def simk_dup_threshold_option(users: str, query: str):
    """``--dup-threshold`` of the Sim-K fills (``inpaint fill``, ``inpaint eval``): ``users`` of it, and what a
    retrieved near-copy is taken for (``query``)."""
    return dup_threshold_option(f"{users}: retrieved images more similar than this count as {query} itself (copies, "
                                "near-duplicates) and are left out; 1 keeps every image.",
                                show_default="0.97; none for a database built with --allow-random-vgg")


strict_option = click.option("--strict", is_flag=True, help="Stop at the first bad input record instead of skipping and reporting it.")
hole_value_option = click.option(
    "--hole-value", type=click.Choice(["255", "0"]), default="255", show_default=True, callback=lambda c, p, v: int(v),
    help="Pixel value of holes in mask files: 255 = white holes (NVIDIA, LaMa), 0 = black holes (original QD-IMD).",
)


def resolve_device_option(ctx, param, value: str) -> str:
    """Callback of ``--device``: ``auto`` resolved once (CUDA, MPS, CPU; this process's GPU under
    torchrun) and the device checked, so that nothing downstream ever sees ``auto``."""
    try:
        from inpaint.device import resolve_device
    except ImportError:  # no torch: only the OpenCV baselines run, on the CPU (a torch method says what to install)
        if value not in ("auto", "cpu"):
            raise click.BadParameter(f"Expected auto or cpu without torch installed, got {value!r}") from None
        return "cpu"
    try:
        return str(resolve_device(value, int(os.environ.get("LOCAL_RANK", "0"))))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


device_option = click.option("--device", default="auto", show_default=True, callback=resolve_device_option,
                             help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N, mps.")
vgg_weights_option = click.option(
    "--vgg-weights", type=click.Path(dir_okay=False), default=None,
    help="torchvision VGG-16 state dict (vgg16-397923af.pth); default: torch.hub's cache, else download.",
)


def kind_callback(ctx, param, value: str | None) -> str | None:
    """Callback of ``--kind`` (and ``--mask-kind``): the canonical spec text, or None for plain ``qdimd`` (Algorithm 1)."""
    if value is None or value.strip() == "qdimd":
        return None
    from qdimd.kinds import parse_kind

    try:
        spec = parse_kind(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return None if spec.is_default else str(spec)


kind_option = click.option(
    "--kind", default="qdimd", show_default=True, callback=kind_callback, metavar="KIND[:W,...]",
    help="Mask kind (qdimd, lama-thin, lama-medium, lama-thick, lama-train, mat, comodgan, deepfill, box), "
         "options in brackets (mat[hole_range=0.1..0.6]) or a mixture (lama-thick:0.5,qdimd:0.5); docs/mask-kinds.md.",
)


def split_names(ctx, param, value: str | None) -> list[str] | None:
    """Callback of a ``NAME[,NAME...]`` option: the stripped, non-empty names (None when not given)."""
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise click.BadParameter(f"expected NAME[,NAME...], got {value!r}")
    return names


def utf8_path(ctx, param, value):
    """Callback of a path option whose name goes into UTF-8 files (reports, configs) or to torch: a name that is
    not valid UTF-8 is a usage error naming the option, before any work."""
    if value is not None and name_problem(value):
        flag = max(param.opts, key=len) if param.opts else param.name
        raise click.BadParameter(f"{printable(os.fspath(value))}: the name is not valid UTF-8 (reports, configs and "
                                 "torch need UTF-8 names); rename it", ctx, param, param_hint=f"'{flag}'")
    return value


def pairing_options(func):
    """``--images --masks --limit --seed --size --hole-value``: which image/mask pairs ``inpaint eval`` scores and
    ``inpaint pairs`` writes (the same options give the same pairs)."""
    options = [
        click.option("--images", "images", type=click.Path(), required=True, callback=utf8_path,
                     help="Folder of ground-truth photos (searched recursively)."),
        click.option("--masks", "masks", type=click.Path(), required=True, callback=utf8_path,
                     help="A `qdimd bucket` split (manifest.csv), or a folder of masks whose buckets are measured."),
        click.option("--limit", type=COUNT, default=None,
                     help="At most N images per (bucket, group).  [default: all]"),
        click.option("--seed", type=SEED, default=0, show_default=True,
                     help="Pairing seed (0 to 2**63 - 1): which image meets which mask in each group."),
        click.option("--size", type=SIZE, default=None,
                     help="Evaluation size S or HxW: masks resized (nearest) and re-bucketed.  [default: the masks' size]"),
        click.option("--hole-value", type=click.Choice(["255", "0"]), default="255", show_default=True,
                     callback=lambda c, p, v: int(v), help="Hole pixel value of masks whose manifest row does not say."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def user_errors(func):
    """Turn library input errors and OS errors (missing file, permission, disk full) into
    ``click.ClickException``: a clean message and exit code 1, never a traceback."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (InputError, ValueError, OSError) as exc:
            raise click.ClickException(printable(str(exc))) from None

    return wrapper
