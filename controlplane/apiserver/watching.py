"""Watch, as the handler layer serves it: selectors, the watch cache, bookmarks, timeouts.

`Watching` is mixed into `Handlers`; `open_watch` starts one client's `WatchStream`, which turns
the cache's (or a direct store watch's) decoded events into ADDED/MODIFIED/DELETED for that
client's filter, with BOOKMARKs when asked. A `WatchStream` never blocks or does IO, so the same
one serves REST's thread per stream (`watch`) and the gRPC event loop (`grpc_watch.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta

from controlplane.apiserver.errors import StoreError
from controlplane.apiserver.options import Filter, ListOptions, WatchEvent, prefix_for
from controlplane.apiserver.storage import EventType, Store
from controlplane.apiserver.watchcache import CachedEvent, DirectWatch, Subscription, WatchCaches
from kubelab.api import errors
from kubelab.api.kind import KindInfo
from kubelab.api.types import Object

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class Watching:
    store: Store
    caches: WatchCaches
    bookmark_interval: float
    clock: Callable[[], datetime]

    def _filter(self, info: KindInfo, namespace: str, labels: str, fields: str) -> Filter:
        raise NotImplementedError

    def _parse_rv(self, rv: str) -> int:
        raise NotImplementedError

    def open_watch(
        self,
        info: KindInfo,
        namespace: str,
        opts: ListOptions,
        *,
        bookmarks: bool = False,
        initial_events_end: bool = False,
        timeout: float | None = None,
    ) -> WatchStream:
        """Start a watch after `opts.resource_version` ("" or "0": the present state first, as
        ADDED, then, with `initial_events_end` and `bookmarks`, a BOOKMARK annotated
        `k8s.io/initial-events-end` carrying the resourceVersion to resume from).

        This may block (the first watch of a resource lists the store; a start older than the
        cache opens a store watch); what it returns never blocks but in `source.next`."""
        flt = self._filter(info, namespace, opts.label_selector, opts.field_selector)
        prefix = prefix_for(info, "")  # one cache per resource, all namespaces
        try:
            cache = self.caches.get(prefix)
        except StoreError as exc:
            raise errors.ServiceUnavailable(str(exc)) from exc
        initial: list[Object] = []
        rv = opts.resource_version
        source: Subscription | DirectWatch
        if rv in ("", "0"):
            objects, revision = cache.snapshot()
            initial = [o for o in objects if flt.matches(o)]
            source = cache.subscribe(revision)
        else:
            after = self._parse_rv(rv)
            if after >= cache.floor:
                source = cache.subscribe(after)
            else:
                source = DirectWatch(self.store, prefix, after)
        now = self.clock()
        return WatchStream(
            flt,
            source,
            initial,
            initial_end=initial_events_end and rv in ("", "0"),
            bookmarks=bookmarks,
            bookmark_interval=timedelta(seconds=self.bookmark_interval),
            deadline=now + timedelta(seconds=timeout) if timeout else None,
            now=now,
        )

    def follow(
        self, stream: WatchStream, stopped: Callable[[], bool] = lambda: False
    ) -> Generator[WatchEvent, None, None]:
        """A stream from `open_watch` as a blocking generator, for front ends with a thread
        per stream; it closes the stream's source when it ends."""
        clock = self.clock
        try:
            yield from stream.start()
            while not stopped() and not stream.expired(clock()):
                batch = stream.source.next(0.5)
                yield from stream.feed(batch, clock())
        finally:
            stream.source.close()


class WatchStream:
    """One client's watch as a value-driven state machine: what to send for the initial state,
    for a batch of cache events, or for the passing of time (bookmarks, the deadline).

    It does no IO and never waits: a thread-per-stream front end loops on `source.next`, an
    event-loop front end waits for the cache's wake-up and calls `source.poll`. Both send what
    `start` and `feed` return, in order."""

    def __init__(
        self,
        flt: Filter,
        source: Subscription | DirectWatch,
        initial: list[Object],
        *,
        initial_end: bool,
        bookmarks: bool,
        bookmark_interval: timedelta,
        deadline: datetime | None,
        now: datetime,
    ) -> None:
        self.filter = flt
        self.source = source
        self._initial = initial
        self._initial_end = initial_end
        self._bookmarks = bookmarks
        self._bookmark_interval = bookmark_interval
        self._deadline = deadline
        self._last_sent = now

    def start(self) -> list[WatchEvent]:
        """The initial state (once)."""
        out = [WatchEvent("ADDED", obj) for obj in self._initial]
        send_end = self._initial_end and self._bookmarks
        self._initial, self._initial_end = [], False
        if send_end:
            # As Kubernetes' sendInitialEvents: this bookmark's resourceVersion is where the
            # present state ends, the point a broken stream can resume from.
            out.append(_bookmark(self.filter, self.source.position, initial_end=True))
        return out

    def expired(self, now: datetime) -> bool:
        return self._deadline is not None and now >= self._deadline

    def feed(self, batch: list[CachedEvent], now: datetime) -> list[WatchEvent]:
        """The events to send for `batch` (possibly empty), then a bookmark if the stream has
        been idle for the bookmark interval."""
        out = [ev for ev in map(self._translate, batch) if ev is not None]
        if out:
            self._last_sent = now
        elif self._bookmarks and now - self._last_sent >= self._bookmark_interval:
            out.append(_bookmark(self.filter, self.source.position))
            self._last_sent = now
        return out

    def _translate(self, ev: CachedEvent) -> WatchEvent | None:
        flt = self.filter
        if ev.type is EventType.DELETE:
            return WatchEvent("DELETED", ev.obj, ev) if flt.matches(ev.prev or ev.obj) else None
        now_match = flt.matches(ev.obj)
        was_match = ev.prev is not None and flt.matches(ev.prev)
        if now_match and was_match:
            return WatchEvent("MODIFIED", ev.obj, ev)
        if now_match:
            return WatchEvent("ADDED", ev.obj, ev)
        if was_match:
            return WatchEvent("DELETED", ev.obj, ev)
        return None


def _bookmark(flt: Filter, revision: int, *, initial_end: bool = False) -> WatchEvent:
    meta: dict[str, object] = {"resourceVersion": str(revision)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return WatchEvent(
        "BOOKMARK",
        {"kind": flt.info.kind, "apiVersion": flt.info.api_version, "metadata": meta},
    )
