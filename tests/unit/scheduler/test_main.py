from __future__ import annotations

import subprocess
import sys

import pytest

from controlplane.scheduler.__main__ import main
from controlplane.scheduler.errors import FlagError
from controlplane.scheduler.options import parse_args, parse_bool, parse_duration


def test_defaults_are_kube_schedulers() -> None:
    o = parse_args([])
    assert o.leader_elect is True
    assert (o.lease_duration, o.renew_deadline, o.retry_period) == (15.0, 10.0, 2.0)
    assert (o.lease_namespace, o.lease_name) == ("kube-system", "kube-scheduler")
    assert o.scheduler_name == "default-scheduler"
    assert o.apiservers == ("127.0.0.1:6444",)
    assert o.identity
    assert o.bind_workers == 16


def test_flags() -> None:
    o = parse_args(
        [
            "--leader-elect=false",
            "--scheduler-name",
            "my-scheduler",
            "--apiserver",
            "10.250.0.10:6444,10.250.0.11:6444",
            "--leader-elect-retry-period=500ms",
            "--bind-workers=0",
        ]
    )
    assert o.leader_elect is False
    assert o.scheduler_name == "my-scheduler"
    assert o.apiservers == ("10.250.0.10:6444", "10.250.0.11:6444")
    assert o.retry_period == 0.5
    assert o.bind_workers == 0


@pytest.mark.parametrize(
    ("text", "want"),
    [("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("1.5s", 1.5)],
    ids=str,
)
def test_parse_duration(text: str, want: float) -> None:
    assert parse_duration("--x", text) == want


@pytest.mark.parametrize("text", ["", "15", "s", "15 s", "-1s", "1d"])
def test_bad_duration_names_flag_and_value(text: str) -> None:
    with pytest.raises(FlagError, match=f"invalid value '{text}' for flag --x: expected a dur"):
        parse_duration("--x", text)


def test_parse_bool() -> None:
    assert parse_bool("--b", "True") is True
    assert parse_bool("--b", "0") is False
    with pytest.raises(FlagError, match="--b"):
        parse_bool("--b", "maybe")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (
            ["--leader-elect-renew-deadline", "20s"],
            "--leader-elect-lease-duration: must be greater than --leader-elect-renew-deadline",
        ),
        (
            ["--leader-elect-retry-period", "9s"],
            "--leader-elect-renew-deadline: must be greater than 1.2 x",
        ),
        (["--apiserver", "nohost"], "'nohost' for flag --apiserver: expected host:port"),
        (["--scheduler-name", ""], "--scheduler-name"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--bind-workers", "-1"], "'-1' for flag --bind-workers: expected an integer from 0"),
        (["--bind-workers", "many"], "'many' for flag --bind-workers: expected an integer"),
    ],
    ids=[
        "lease shorter than deadline",
        "retry too long",
        "bad address",
        "empty name",
        "unknown flag",
        "negative bind workers",
        "bind workers not a number",
    ],
)
def test_bad_flags(argv: list[str], match: str) -> None:
    with pytest.raises(FlagError, match=match):
        parse_args(argv)


def test_main_asks_for_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--leader-elect=false"]) == 1
    assert "pass --kubeconfig FILE" in capsys.readouterr().err


def test_main_names_an_unreadable_kubeconfig(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--leader-elect=false", "--kubeconfig", "/nonexistent/kubeconfig"]) == 1
    assert "--kubeconfig /nonexistent/kubeconfig: cannot use it" in capsys.readouterr().err


def test_main_reports_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--leader-elect-lease-duration", "soon"]) == 2
    assert "invalid value 'soon' for flag --leader-elect-lease-duration" in capsys.readouterr().err


def test_module_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "controlplane.scheduler", "--leader-elect=false"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "cannot start" in proc.stderr
    assert "Traceback" not in proc.stderr
