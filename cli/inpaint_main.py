"""``inpaint``: train, run and evaluate PConv and Sim-K inpainting models."""
from __future__ import annotations

import click

from qdimd import __version__

from .lazy import LazyGroup

COMMANDS = {
    "train": "train:train",
    "fill": "fill:fill",
    "index": "inpaint_index:index",
    "query": "query:query",
    "eval": "evaluate:evaluate",
    "pairs": "pairs:pairs",
    "export": "export:export",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, extras_hint="pip install 'qdimd[inpaint]' (and 'qdimd[faiss]' for FAISS search)",
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inpaint")
def main() -> None:
    """Partial-convolution and Sim-K inpainting models that consume QD-IMD masks."""


if __name__ == "__main__":
    main()
