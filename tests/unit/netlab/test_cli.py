from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from netlab.cli import cli

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "netlab"


def test_help_lists_the_commands() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for command in ("up", "down", "show", "exec", "clean", "fault", "validate"):
        assert command in out
    faults = CliRunner().invoke(cli, ["fault", "--help"]).output
    for command in ("link-down", "link-up", "partition", "heal", "loss", "bandwidth", "delay"):
        assert command in faults


def test_validate_accepts_an_example() -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLES / "router.yaml")])
    assert result.exit_code == 0
    assert "prefix nlrouter" in result.output


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nhosts:\n  a: {routes: [{to: 10.0.0.0/33, dev: eth0}]}\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3:" in result.output
    assert "hosts.a.routes[0].to" in result.output
    assert "hosts.a.routes[0].dev" in result.output
    assert "Traceback" not in result.output
