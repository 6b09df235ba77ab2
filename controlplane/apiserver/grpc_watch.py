"""The gRPC Watch fan-out: every watch stream served by coroutines on one asyncio event loop.

Why not a thread per stream (grpc's synchronous server): there, each event wakes every watching
thread, and a hundred threads hand the GIL to one another several times each (wake, translate,
serialize, wait for the send to complete), so the last of a hundred watchers sees an event tens
of milliseconds after the first. Here the watch cache's thread tells the loop once per applied
batch (`call_soon_threadsafe`), the loop sets one `asyncio.Event` per waiting stream, and each
stream's coroutine writes frames serialized once per event and event type for all watchers
(the RPC's response serializer is the identity).

What it must not do: block the loop. The calls a watch start may make to the store (the first
list of a resource, a direct store watch for a resourceVersion older than the cache) and reads
from a direct store watch run in the front end's thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor

import grpc

from controlplane.apiserver.handlers import Handlers, ListOptions
from controlplane.apiserver.options import WatchEvent
from controlplane.apiserver.watchcache import CachedEvent, DirectWatch, ResourceCache, Subscription
from controlplane.apiserver.watching import WatchStream
from kubelab.api import errors
from kubelab.api.kind import KindInfo
from kubelab.gen.api import api_pb2

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often an idle stream checks its deadline and bookmark interval


def encode_event(type_: str, object_json: bytes) -> bytes:
    return api_pb2.WatchEvent(type=type_, object=object_json).SerializeToString()


def frame(ev: WatchEvent) -> bytes:
    """The serialized `api.v1.WatchEvent` for `ev`; for a cache event computed once per event
    and type (one event is ADDED for some filters, MODIFIED for others) for every stream."""
    cached = ev.cached
    if cached is not None and cached.obj is ev.object:
        return cached.memo(("grpc", ev.type), lambda: encode_event(ev.type, cached.encoded()))
    return encode_event(ev.type, ev.object_json())


class Wakeups:
    """Per cache, one future that every stream of this loop waiting on that cache awaits: the
    cache's listener resolves it (from the cache's thread, through `call_soon_threadsafe`) when
    a batch has been applied, and a shared ticker resolves all of them every POLL_SECONDS so
    idle streams check their deadline and bookmark interval. One future and one timer for all
    streams, instead of an event and a timer each.

    Touched only from the loop's thread, but the listener, which only schedules `_wake`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = POLL_SECONDS) -> None:
        self._loop = loop
        self._tick_seconds = tick
        self._signals: dict[ResourceCache, asyncio.Future[None]] = {}
        self._listeners: dict[ResourceCache, Callable[[], None]] = {}
        self._ticker: asyncio.TimerHandle | None = None

    def next_change(self, cache: ResourceCache) -> asyncio.Future[None]:
        """A future resolved after the next batch `cache` applies, or at the next tick. Await
        it through `asyncio.shield`: it is shared, and a cancelled stream must not cancel it."""
        if cache not in self._listeners:
            self._listeners[cache] = listener = self._listener(cache)
            cache.add_listener(listener)
        signal = self._signals.get(cache)
        if signal is None:
            signal = self._signals[cache] = self._loop.create_future()
        if self._ticker is None:
            self._ticker = self._loop.call_later(self._tick_seconds, self._tick)
        return signal

    def _listener(self, cache: ResourceCache) -> Callable[[], None]:
        loop = self._loop

        def listener() -> None:
            # RuntimeError: the loop is closed, the front end has stopped.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake, cache)

        return listener

    def _wake(self, cache: ResourceCache) -> None:
        signal = self._signals.pop(cache, None)
        if signal is not None and not signal.done():
            signal.set_result(None)

    def _tick(self) -> None:
        self._ticker = None  # re-armed by the next waiter
        for cache in list(self._signals):
            self._wake(cache)

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for cache, listener in self._listeners.items():
            cache.remove_listener(listener)
        self._listeners.clear()
        for signal in self._signals.values():
            signal.cancel()
        self._signals.clear()


def _close_opened(opening: asyncio.Future[WatchStream]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().source.close()


class WatchService:
    """The `Watch` RPC as an async generator of pre-serialized frames."""

    def __init__(
        self,
        handlers: Handlers,
        pool: Executor,
        wakeups: Wakeups,
        info: Callable[[api_pb2.ResourceRef], KindInfo],
        status_code: Callable[[errors.ApiError], grpc.StatusCode],
        *,
        require_auth: bool = True,
    ) -> None:
        self.h = handlers
        self.pool = pool
        self.wakeups = wakeups
        self.info = info
        self.status_code = status_code
        self.require_auth = require_auth

    async def watch(
        self, request: api_pb2.WatchRequest, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[bytes]:
        if self.require_auth and not context.peer_identities():
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                json.dumps(errors.Unauthorized("Unauthorized").to_status()),
            )
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(self.pool, self._open, request)
        try:
            stream = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The client left while the watch was starting: close what the pool still opens
            # (a direct store watch holds a store stream and a thread).
            opening.add_done_callback(_close_opened)
            raise
        except errors.ApiError as err:
            await context.abort(self.status_code(err), json.dumps(err.to_status()))
            raise AssertionError("unreachable") from err  # pragma: no cover - abort raises
        source = stream.source
        try:
            for ev in stream.start():
                yield frame(ev)
            clock = self.h.clock
            while not stream.expired(clock()):
                batch = await self._next(source)
                for ev in stream.feed(batch, clock()):
                    yield frame(ev)
        except errors.ApiError as err:
            yield encode_event("ERROR", json.dumps(err.to_status()).encode())
        finally:
            source.close()

    def _open(self, request: api_pb2.WatchRequest) -> WatchStream:
        return self.h.open_watch(
            self.info(request.ref),
            request.ref.namespace,
            ListOptions(
                label_selector=request.label_selector,
                field_selector=request.field_selector,
                resource_version=request.resource_version,
            ),
            bookmarks=request.allow_bookmarks,
            initial_events_end=True,
            timeout=float(request.timeout_seconds) or None,
        )

    async def _next(self, source: Subscription | DirectWatch) -> list[CachedEvent]:
        """The next events, or [] after at most about POLL_SECONDS without any."""
        if isinstance(source, DirectWatch):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.pool, source.next, POLL_SECONDS)
        # Take the signal before reading: a batch applied after the read resolves it, so no
        # wake-up is lost between the read and the wait.
        signal = self.wakeups.next_change(source.cache)
        batch = source.poll()
        if batch:
            return batch
        await asyncio.shield(signal)
        return source.poll()
