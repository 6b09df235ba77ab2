"""Flag parsing: etcd's flag names, clear errors, the peer-secret rule."""

from __future__ import annotations

import pytest

from controlplane.kvstore.config import build_config, parse_duration, parse_initial_cluster
from controlplane.kvstore.errors import ConfigError


def _config(**overrides: object) -> object:
    args: dict[str, object] = {
        "name": "n1",
        "data_dir": "/tmp/x",
        "listen_client_urls": "http://127.0.0.1:2379",
        "advertise_client_urls": "http://127.0.0.1:2379",
        "listen_peer_urls": "http://127.0.0.1:2380",
        "initial_advertise_peer_urls": "http://127.0.0.1:2380",
        "initial_cluster": "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:2480",
        "heartbeat_ms": 100,
        "election_ms": 1000,
        "peer_secret": None,
    }
    args.update(overrides)
    return build_config(**args)  # type: ignore[arg-type]


def test_loopback_cluster_may_run_without_a_secret() -> None:
    config = _config()
    assert len(config.members) == 2  # type: ignore[attr-defined]


def test_remote_peers_require_a_secret() -> None:
    cluster = "n1=http://10.250.0.10:2380,n2=http://10.250.0.11:2380"
    with pytest.raises(ConfigError, match="--peer-secret-file is required"):
        _config(
            initial_cluster=cluster,
            initial_advertise_peer_urls="http://10.250.0.10:2380",
            listen_peer_urls="http://10.250.0.10:2380",
        )
    ok = _config(
        initial_cluster=cluster,
        initial_advertise_peer_urls="http://10.250.0.10:2380",
        listen_peer_urls="http://10.250.0.10:2380",
        peer_secret=b"s" * 32,
    )
    assert ok.peer_secret  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listen_client_urls": "127.0.0.1:2379"}, "--listen-client-urls='127.0.0.1:2379'"),
        ({"initial_cluster": "n1"}, "is not name=http://host:port"),
        ({"name": "n9"}, "has no member named 'n9'"),
        ({"initial_advertise_peer_urls": "http://127.0.0.1:9999"}, "differs from this member"),
        ({"election_ms": 200}, "--election-timeout=200"),
        ({"listen_peer_urls": "https://127.0.0.1:2380"}, "TLS is not supported"),
    ],
    ids=["no-scheme", "bad-cluster", "unknown-name", "url-mismatch", "timing", "tls"],
)
def test_bad_flags_name_the_flag_and_value(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        _config(**overrides)


def test_member_ids_are_stable_and_distinct() -> None:
    one = parse_initial_cluster("a=http://127.0.0.1:1,b=http://127.0.0.1:2")
    two = parse_initial_cluster("a=http://127.0.0.1:1,b=http://127.0.0.1:2")
    assert [m.member_id for m in one] == [m.member_id for m in two]
    assert one[0].member_id != one[1].member_id


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0)],
    ids=["minutes", "mixed", "millis", "hours"],
)
def test_durations_like_etcd_flags(text: str, seconds: float) -> None:
    assert parse_duration(text, "--x") == seconds


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "0s", "5d"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match="--x="):
        parse_duration(text, "--x")
