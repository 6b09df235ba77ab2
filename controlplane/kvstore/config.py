"""The kvstore's configuration from etcd-named flags: parsing and validation, pure.

Flags keep etcd's names and meanings (`--initial-cluster n1=http://10.250.0.10:2380,...`,
`--heartbeat-interval` and `--election-timeout` in milliseconds). Every problem names the flag,
the value and what would be accepted.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from controlplane.kvstore.errors import ConfigError

DEFAULT_MAX_REQUEST_BYTES = 1_572_864  # etcd's --max-request-bytes default (1.5 MiB)
DEFAULT_SNAPSHOT_COUNT = 10_000  # Raft log entries kept before a snapshot compacts them


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class Member:
    name: str
    peer_url: str
    member_id: int

    @property
    def peer(self) -> Endpoint:
        return parse_url(self.peer_url, "--initial-cluster")


@dataclass(frozen=True)
class Timing:
    """Raft timing in seconds. Followers start an election after a random silence drawn from
    [election_timeout / 2, election_timeout], so a dead leader is replaced within one
    election timeout after its last heartbeat."""

    heartbeat: float = 0.1
    election_timeout: float = 1.0

    def validate(self) -> None:
        if self.heartbeat <= 0:
            raise ConfigError(f"--heartbeat-interval={self.heartbeat * 1000:g}: must be > 0")
        if self.election_timeout / 2 <= self.heartbeat * 3:
            raise ConfigError(
                f"--election-timeout={self.election_timeout * 1000:g}: must be more than six "
                f"times --heartbeat-interval={self.heartbeat * 1000:g}"
            )


@dataclass(frozen=True)
class Config:
    name: str
    data_dir: str
    listen_client: tuple[Endpoint, ...]
    advertise_client_urls: tuple[str, ...]
    listen_peer: Endpoint
    advertise_peer_url: str
    members: tuple[Member, ...]
    timing: Timing
    peer_secret: bytes | None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    snapshot_count: int = DEFAULT_SNAPSHOT_COUNT
    watch_progress_notify_interval: float = 600.0
    fsync: bool = True  # the Raft journal reaches the disk before an entry is acknowledged

    @property
    def self_member(self) -> Member:
        return next(m for m in self.members if m.name == self.name)

    @property
    def cluster_id(self) -> int:
        return cluster_id(self.members)


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str, flag: str) -> float:
    """A Go-style duration as etcd's flags take it ("10m", "1m30s", "500ms"), in seconds."""
    matches = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    if not matches or "".join(n + u for n, u in matches) != value.strip() or value.strip() == "":
        raise ConfigError(f"{flag}={value!r}: expected a duration like 10m, 30s or 500ms")
    seconds = sum(float(n) * _UNITS[u] for n, u in matches)
    if seconds <= 0:
        raise ConfigError(f"{flag}={value!r}: must be more than zero")
    return seconds


def parse_url(url: str, flag: str) -> Endpoint:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise ConfigError(
            f"{flag}={url!r}: expected a URL like http://127.0.0.1:2379 (scheme, host and port)"
        )
    if parts.scheme == "https":
        raise ConfigError(f"{flag}={url!r}: TLS is not supported; use an http:// URL")
    return Endpoint(parts.hostname, parts.port)


def parse_urls(value: str, flag: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in value.split(",") if u.strip())
    if not urls:
        raise ConfigError(f"{flag}={value!r}: expected one or more comma-separated URLs")
    for url in urls:
        parse_url(url, flag)
    return urls


def member_id(name: str, peer_url: str) -> int:
    """A stable 64-bit member id from the name and peer URL (like etcd's, never zero)."""
    digest = hashlib.sha256(f"{name}\n{peer_url}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def cluster_id(members: tuple[Member, ...]) -> int:
    text = ",".join(str(m.member_id) for m in sorted(members, key=lambda m: m.member_id))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") or 1


def parse_initial_cluster(value: str) -> tuple[Member, ...]:
    members: list[Member] = []
    for item in value.split(","):
        name, sep, url = item.strip().partition("=")
        if not sep or not name or not url:
            raise ConfigError(
                f"--initial-cluster={value!r}: entry {item!r} is not name=http://host:port"
            )
        parse_url(url, "--initial-cluster")
        members.append(Member(name, url, member_id(name, url)))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ConfigError(f"--initial-cluster={value!r}: member names must be unique")
    return tuple(members)


def build_config(
    *,
    name: str,
    data_dir: str,
    listen_client_urls: str,
    advertise_client_urls: str,
    listen_peer_urls: str,
    initial_advertise_peer_urls: str,
    initial_cluster: str | None,
    heartbeat_ms: float,
    election_ms: float,
    peer_secret: bytes | None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    snapshot_count: int = DEFAULT_SNAPSHOT_COUNT,
    watch_progress_notify_interval: str = "10m",
    unsafe_no_fsync: bool = False,
) -> Config:
    listen_client = tuple(
        parse_url(u, "--listen-client-urls")
        for u in parse_urls(listen_client_urls, "--listen-client-urls")
    )
    advertise_client = parse_urls(advertise_client_urls, "--advertise-client-urls")
    listen_peers = parse_urls(listen_peer_urls, "--listen-peer-urls")
    if len(listen_peers) != 1:
        raise ConfigError(f"--listen-peer-urls={listen_peer_urls!r}: give exactly one URL")
    advertise_peers = parse_urls(initial_advertise_peer_urls, "--initial-advertise-peer-urls")
    if len(advertise_peers) != 1:
        raise ConfigError(
            f"--initial-advertise-peer-urls={initial_advertise_peer_urls!r}: give exactly one URL"
        )
    members = parse_initial_cluster(initial_cluster or f"{name}={advertise_peers[0]}")
    mine = [m for m in members if m.name == name]
    if not mine:
        raise ConfigError(f"--initial-cluster={initial_cluster!r}: has no member named {name!r}")
    if mine[0].peer != parse_url(advertise_peers[0], "--initial-advertise-peer-urls"):
        raise ConfigError(
            f"--initial-advertise-peer-urls={advertise_peers[0]!r} differs from this member's "
            f"URL {mine[0].peer_url!r} in --initial-cluster"
        )
    timing = Timing(heartbeat=heartbeat_ms / 1000, election_timeout=election_ms / 1000)
    timing.validate()
    if peer_secret is None and len(members) > 1:
        remote = [m.peer_url for m in members if not m.peer.is_loopback]
        if remote:
            raise ConfigError(
                f"--peer-secret-file is required: peer URLs {', '.join(remote)} are not loopback "
                "and peer traffic must be authenticated"
            )
    if max_request_bytes <= 0:
        raise ConfigError(f"--max-request-bytes={max_request_bytes}: must be > 0")
    if snapshot_count < 10:
        raise ConfigError(f"--snapshot-count={snapshot_count}: must be at least 10")
    return Config(
        name=name,
        data_dir=data_dir,
        listen_client=listen_client,
        advertise_client_urls=advertise_client,
        listen_peer=parse_url(listen_peers[0], "--listen-peer-urls"),
        advertise_peer_url=advertise_peers[0],
        members=members,
        timing=timing,
        peer_secret=peer_secret,
        max_request_bytes=max_request_bytes,
        snapshot_count=snapshot_count,
        watch_progress_notify_interval=parse_duration(
            watch_progress_notify_interval, "--experimental-watch-progress-notify-interval"
        ),
        fsync=not unsafe_no_fsync,
    )
