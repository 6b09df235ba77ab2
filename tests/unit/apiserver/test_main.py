from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from controlplane.apiserver.__main__ import parse_args, parse_duration, positive_int


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("90s", 90), ("30m", 1800), ("1h", 3600), ("1h0m0s", 3600), ("1h30m", 5400)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1d", "ten", "5 m"])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid duration"):
        parse_duration(text)


def test_flags_use_kube_apiserver_names() -> None:
    cfg = parse_args(
        [
            "--etcd-servers",
            "10.0.0.1:2379, 10.0.0.2:2379",
            "--cert-dir",
            "/tmp/pki",
            "--secure-port",
            "7443",
            "--event-ttl",
            "2h",
            "--tls-san",
            "api.lab",
        ]
    )
    assert cfg.etcd_servers == ("10.0.0.1:2379", "10.0.0.2:2379")
    assert (cfg.secure_port, cfg.grpc_port, cfg.event_ttl) == (7443, 6444, 7200)
    assert cfg.cert_dir == Path("/tmp/pki")
    assert cfg.tls_sans == ("api.lab",)
    with pytest.raises(SystemExit):
        parse_args(["--cert-dir", "/tmp/pki"])  # --etcd-servers is required


@pytest.mark.parametrize("text", ["0", "-1", "eight", ""])
def test_worker_counts_must_be_positive_whole_numbers(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"invalid value {text!r}"):
        positive_int(text)
    assert positive_int("8") == 8
