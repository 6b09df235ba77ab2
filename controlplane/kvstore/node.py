"""What every gRPC handler shares: the `Node` (config, backend, ids, headers, waiting on Raft)
and the mapping of `KvError` to etcd's gRPC status, done once here."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

import grpc

from controlplane.kvstore import errors
from controlplane.kvstore.backend import Backend
from controlplane.kvstore.commands import Command
from controlplane.kvstore.config import Config
from controlplane.kvstore.mvcc import Applied, MvccStore
from controlplane.kvstore.watch import WatchHub
from kubelab.gen.etcd import rpc_pb2

log = logging.getLogger(__name__)
R = TypeVar("R")


def _expire(twin: asyncio.Future[Any]) -> None:
    if not twin.done():
        twin.set_exception(errors.timed_out())


class _Completions:
    """Hands results from the Raft thread to the event loop, one loop wake-up per burst.

    The Raft thread resolves many proposals per iteration; waking the loop once for all of
    them (rather than once per proposal) keeps the loop and the Raft thread off each other.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[asyncio.Future[Any], Future[Any]]] = []

    def push(self, twin: asyncio.Future[Any], done: Future[Any]) -> None:
        with self._lock:
            self._items.append((twin, done))
            first = len(self._items) == 1
        if first:
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for twin, done in items:
            if twin.done():
                continue  # timed out meanwhile
            error = done.exception()
            if error is not None:
                twin.set_exception(error)
            else:
                twin.set_result(done.result())


class Node:
    """Shared state of the edge: config, backend, member ids, timeouts."""

    def __init__(self, config: Config, backend: Backend, hub: WatchHub) -> None:
        self.config = config
        self.backend = backend
        self.hub = hub
        self.member_id = config.self_member.member_id
        self.cluster_id = config.cluster_id
        self.request_timeout = 5.0 + 2 * config.timing.election_timeout
        self.min_lease_ttl = math.ceil(1.5 * config.timing.election_timeout)
        self._by_address = {m.peer.address: m for m in config.members}
        self._completions: _Completions | None = None

    def header(self, revision: int | None = None) -> rpc_pb2.ResponseHeader:
        status = self.backend.status()
        if revision is None:
            revision = self.backend.read(lambda s: s.revision)
        return rpc_pb2.ResponseHeader(
            cluster_id=self.cluster_id,
            member_id=self.member_id,
            revision=revision,
            raft_term=status.term,
        )

    def leader_id(self) -> int:
        leader = self.backend.status().leader
        member = self._by_address.get(leader) if leader else None
        return member.member_id if member else 0

    async def propose(self, command: Command) -> Applied:
        result = await self._wait(self.backend.submit(command))
        if result.error is not None:
            raise result.error
        return result

    async def linearize(self, serializable: bool = False) -> None:
        if self.backend.status().diverged:
            raise errors.corrupt()  # never serve a state that may differ from the others'
        if not serializable:
            await self._wait(self.backend.barrier())

    async def _wait(self, future: Future[R]) -> R:
        # A loop-side twin of the Raft-side future: a timeout cancels only the twin, never the
        # proposal (whose outcome is then unknown).
        loop = asyncio.get_running_loop()
        if self._completions is None or self._completions.loop is not loop:
            self._completions = _Completions(loop)
        twin: asyncio.Future[R] = loop.create_future()
        expiry = loop.call_later(self.request_timeout, _expire, twin)
        future.add_done_callback(partial(self._completions.push, twin))
        try:
            return await twin
        finally:
            expiry.cancel()

    def read(self, fn: Callable[[MvccStore], R]) -> R:
        return self.backend.read(fn)

    def check_size(self, request: Any) -> None:
        if request.ByteSize() > self.config.max_request_bytes:
            raise errors.request_too_large()


Context = grpc.aio.ServicerContext[Any, Any]


async def abort(context: Context, exc: errors.KvError) -> None:
    if isinstance(exc, errors.UnavailableError) and exc.unknown_outcome:
        log.info("request outcome unknown code=%s message=%r", exc.code, exc.message)
    await context.abort(grpc.StatusCode[exc.code], exc.message)


def unary(
    fn: Callable[[Any, Any, Context], Awaitable[R]],
) -> Callable[[Any, Any, Context], Awaitable[R]]:
    async def handler(self: Any, request: Any, context: Context) -> R:
        try:
            return await fn(self, request, context)
        except errors.KvError as exc:
            await abort(context, exc)
            raise AssertionError("unreachable") from exc

    handler.__name__ = fn.__name__
    return handler
