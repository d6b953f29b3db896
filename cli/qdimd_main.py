"""``qdimd``: Quick Draw Irregular Mask Dataset masks."""
from __future__ import annotations

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
