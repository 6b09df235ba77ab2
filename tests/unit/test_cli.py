from __future__ import annotations

from click.testing import CliRunner

from kubelab.cli import cli
from netlab.cli import cli as netlab_cli


def test_kubelab_help_lists_lifecycle_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "up" in result.output
    assert "down" in result.output


def test_netlab_version() -> None:
    result = CliRunner().invoke(netlab_cli, ["--version"])
    assert result.exit_code == 0
    assert "netlab" in result.output
