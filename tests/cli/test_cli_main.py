"""The ``qdimd`` and ``inpaint`` command groups: lazy subcommands, version, missing extras."""
from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from qdimd import __version__
from qdimd_cli.inpaint_main import main as inpaint_main
from qdimd_cli.qdimd_main import main as qdimd_main


def test_groups_list_every_command_and_version():
    runner = CliRunner()
    for group, names in ((qdimd_main, ("generate", "preview", "index", "download", "bucket", "stats")),
                         (inpaint_main, ("train", "fill", "index", "query", "eval"))):
        result = runner.invoke(group, ["--help"])
        assert result.exit_code == 0, result.output
        assert all(f"  {name} " in result.output for name in names)
        version = runner.invoke(group, ["--version"])
        assert version.exit_code == 0 and __version__ in version.output


def test_qdimd_generate_does_not_import_torch(tmp_path):
    code = ("import sys; from qdimd_cli.qdimd_main import main\n"
            f"try:\n    main(['generate', '--n', '3', '--size', '32', '--out', r'{tmp_path / 'm'}', '--workers', '1'])\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_missing_torch_gives_an_install_hint_not_a_traceback(tmp_path):
    # sys.modules["torch"] = None makes "import torch" fail as it does without the extra installed.
    code = ("import sys; sys.modules['torch'] = None\n"
            "from qdimd_cli.inpaint_main import main\n"
            f"main(['train', '--model', 'pconv256', '--images', r'{tmp_path}', '--size', '64', '--out', r'{tmp_path / 'run'}'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "needs the package 'torch'" in proc.stderr and "qdimd[inpaint]" in proc.stderr


def test_warnings_print_as_one_line_without_the_source_location():
    import warnings

    import click

    @click.command()
    def warn():
        warnings.warn("random weights: smoke tests only", UserWarning)

    from qdimd_cli.lazy import LazyGroup

    group = LazyGroup(lazy_commands={}, commands={"warn": warn})
    result = CliRunner().invoke(group, ["warn"])
    assert result.exit_code == 0
    assert "Warning: random weights: smoke tests only" in result.output
    assert "UserWarning" not in result.output and ".py:" not in result.output


def test_user_errors_turns_os_errors_into_click_exceptions():
    import click
    import pytest

    from qdimd_cli.options import user_errors

    @user_errors
    def write():
        raise OSError(28, "No space left on device", "out/masks/00000001.png")

    with pytest.raises(click.ClickException, match="No space left on device"):
        write()
