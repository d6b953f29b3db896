"""A click group that imports a subcommand's module only when it runs.

``qdimd --help`` stays fast and ``qdimd generate`` never imports torch.
"""
from __future__ import annotations

import importlib
import sys
import warnings

import click


OPTIONAL_MODULES = frozenset({"torch", "skimage", "faiss"})
"""Imports that come with the extras; a missing one gets the install hint, not a traceback."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one ``Warning: ...`` line on stderr (above any progress bar), without the library's file and line."""
    from tqdm import tqdm

    tqdm.write(f"Warning: {message}", file=sys.stderr)


class LazyGroup(click.Group):
    """Group whose commands are ``name -> "module:attribute"`` inside this package."""

    def __init__(self, *args, lazy_commands: dict[str, str], extras_hint: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)
        self.extras_hint = extras_hint

    def invoke(self, ctx: click.Context):
        try:
            with warnings.catch_warnings():  # restores the warning display on exit
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            if not self.extras_hint or exc.name is None or exc.name.split(".")[0] not in OPTIONAL_MODULES:
                raise
            raise click.ClickException(f"this command needs the package {exc.name.split('.')[0]!r}: {self.extras_hint}") from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy_commands:
            return super().get_command(ctx, name)
        module_name, attr = self.lazy_commands[name].split(":")
        module = importlib.import_module(f"{__package__}.{module_name}")
        return getattr(module, attr)
