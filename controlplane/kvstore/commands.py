"""The commands the Raft log carries to the MVCC state machine, as frozen values.

Everything apply needs is inside the command: the proposer puts wall-clock times (`at`) and
chosen lease ids into it, so applying the same log yields the same state on every replica and
on replay. Write requests travel as serialized etcd protobuf messages (their wire form is
stable and compact). This module must not import grpc or pysyncobj.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class WriteKind(Enum):
    PUT = "put"
    DELETE = "delete"
    TXN = "txn"


@dataclass(frozen=True)
class Write:
    """A Put, DeleteRange or Txn; `body` is the serialized etcd request message."""

    kind: WriteKind
    body: bytes


@dataclass(frozen=True)
class Compact:
    revision: int


@dataclass(frozen=True)
class LeaseGrant:
    lease_id: int
    ttl: int
    at: float


@dataclass(frozen=True)
class LeaseRevoke:
    lease_id: int


@dataclass(frozen=True)
class LeaseKeepAlive:
    lease_id: int
    at: float


@dataclass(frozen=True)
class LeaseExpire:
    """Proposed by the leader when it sees a lease past its deadline at time `at`.

    Apply re-checks the deadline against `at`: a keep-alive committed in between wins.
    """

    lease_id: int
    at: float


@dataclass(frozen=True)
class PublishMember:
    """A member announces its name and client URLs (etcd publishes its attributes likewise)."""

    member_id: int
    name: str
    client_urls: tuple[str, ...]


@dataclass(frozen=True)
class Barrier:
    """A no-op through the log: once applied locally, every earlier write is visible here.

    The server's linearizable reads use a read index instead (no log entry); this remains the
    simplest correct barrier for tools and tests.
    """

    token: int = 0


Command = (
    Write
    | Compact
    | LeaseGrant
    | LeaseRevoke
    | LeaseKeepAlive
    | LeaseExpire
    | PublishMember
    | Barrier
)
