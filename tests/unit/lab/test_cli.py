"""The `kubelab` CLI without root: flag errors, dry run, labs that do not exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubelab.cli import cli
from kubelab.lab import lifecycle, steps
from kubelab.lab.prereqs import Probes


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"KUBELAB_ROOT": str(tmp_path)})
    return result.exit_code, result.output


ERRORS = {
    "0 control planes": (["--control-planes", "0"], "--control-planes=0: need at least 1"),
    "bad name": (["--name", "My_Lab"], "--name=My_Lab: use lowercase letters and digits"),
    "bad store": (["--store", "redis"], "--store=redis: use one of: kvstore, etcd"),
    "small lan": (["--lan", "10.9.0.0/29", "--nodes", "9"], "--lan=10.9.0.0/29: has 6 usable"),
}


@pytest.mark.parametrize(("args", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_up_rejects_bad_flags_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = invoke(tmp_path, "up", *args)
    assert code == 1
    assert any(line.startswith("kubelab up: ") and message in line for line in out.splitlines())
    assert "Traceback" not in out
    assert list(tmp_path.iterdir()) == []


def test_up_says_what_is_missing_and_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = Probes(euid=0, which=lambda t: t, has_module=lambda m: m != "controlplane.kvstore")
    monkeypatch.setattr(lifecycle, "system_probes", lambda: probes)
    monkeypatch.setattr(steps.Context, "default_list_netns", staticmethod(lambda: list))
    code, out = invoke(tmp_path, "up", "--name", "ab", "--kubeconfig", str(tmp_path / "kc"))
    assert code == 1
    assert "kubelab up: cannot start: not built yet in this version: controlplane.kvstore" in out
    assert list(tmp_path.iterdir()) == []


def test_dry_run_prints_the_plan(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "up", "--dry-run", "--control-planes", "3", "--nodes", "1")
    assert code == 0, out
    assert "API https://10.250.0.2:6443 (HAProxy on the host)" in out
    assert "node-1: worker 10.250.0.20 pods 10.244.3.0/24 netns kubelab-node-1" in out
    assert "cp-3/kvstore [netns kubelab-cp-3]" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args", [["status"], ["stop"], ["node", "add"], ["node", "remove", "node-1"]]
)
def test_commands_on_a_missing_lab(
    tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    code, out = invoke(tmp_path, *args, "--name", "nolab")
    assert code == 1
    assert "no lab named 'nolab'; create one with `kubelab up --name nolab`" in out


@pytest.mark.parametrize(
    "args", [["down"], ["stop"], ["start"], ["node", "add"], ["node", "remove", "node-1"]]
)
def test_lab_changing_commands_need_root(
    tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, out = invoke(tmp_path, *args)
    assert code == 1
    assert out.startswith(f"kubelab {' '.join(args[:2] if args[0] == 'node' else args[:1])}: ")
    assert "must run as root" in out


def test_help_lists_every_command(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "--help")
    assert code == 0
    for command in ("up", "down", "stop", "start", "status", "node"):
        assert f"  {command} " in out
