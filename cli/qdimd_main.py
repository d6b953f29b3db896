"""``qdimd``: Quick Draw Irregular Mask Dataset masks."""
from __future__ import annotations

import os

# No qdimd command does heavy linear algebra, and each process's idle OpenBLAS threads spin for
# about 0.1 s of CPU after numpy is imported (measured in benchmarks/bench_generate.py). Set before
# numpy is imported; spawned workers inherit it. A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click

from qdimd import __version__

from .lazy import LazyGroup

COMMANDS = {
    "generate": "generate:generate",
    "preview": "preview:preview",
    "index": "index:index",
    "download": "download:download",
    "bucket": "bucket:bucket",
    "stats": "stats:stats",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, extras_hint="pip install 'qdimd[torch]'",
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qdimd")
def main() -> None:
    """Irregular inpainting masks from Quick, Draw! strokes (Iskakov 2018, Algorithm 1)."""


if __name__ == "__main__":
    main()
