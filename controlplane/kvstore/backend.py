"""What the gRPC edge needs from the replicated store, as a Protocol (tests may fake it)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol, TypeVar

from controlplane.kvstore.commands import Command
from controlplane.kvstore.mvcc import Applied, MvccStore

T = TypeVar("T")


@dataclass(frozen=True)
class RaftStatus:
    leader: str | None  # peer address of the leader, None while there is none
    is_leader: bool
    term: int
    commit_index: int
    applied_index: int
    diverged: bool


class Backend(Protocol):
    self_address: str

    def submit(self, command: Command) -> Future[Applied]:
        """Propose; the future resolves once applied here (raises KvError if refused)."""
        ...

    def propose(self, command: Command, timeout: float) -> Applied:
        """`submit` and wait; raises KvError (timed out: outcome unknown)."""
        ...

    def barrier(self) -> Future[None]:
        """Resolves once every write acknowledged before the call is visible here."""
        ...

    def read_barrier(self, timeout: float) -> None: ...

    def read(self, fn: Callable[[MvccStore], T]) -> T: ...

    def status(self) -> RaftStatus: ...
