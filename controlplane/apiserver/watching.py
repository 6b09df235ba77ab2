"""Watch, as the handler layer serves it: selectors, the watch cache, bookmarks, timeouts.

`Watching` is mixed into `Handlers`; it turns the cache's (or a direct store watch's) decoded
events into ADDED/MODIFIED/DELETED for one client's filter, with BOOKMARKs when asked.
"""

# ruff: noqa: PLR0917  (internal helper passes the stream's parts)

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta

from controlplane.apiserver.errors import StoreError
from controlplane.apiserver.options import ROOT, Filter, ListOptions, WatchEvent
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

    def watch(
        self,
        info: KindInfo,
        namespace: str,
        opts: ListOptions,
        *,
        bookmarks: bool = False,
        initial_events_end: bool = False,
        timeout: float | None = None,
        stopped: Callable[[], bool] = lambda: False,
    ) -> Generator[WatchEvent, None, None]:
        """Events after `opts.resource_version` ("" or "0": the present state first, as ADDED,
        then, with `initial_events_end` and `bookmarks`, a BOOKMARK annotated
        `k8s.io/initial-events-end` carrying the resourceVersion to resume from)."""
        flt = self._filter(info, namespace, opts.label_selector, opts.field_selector)
        try:
            cache = self.caches.get(f"{ROOT}/{info.resource}/")
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
                source = DirectWatch(self.store, f"{ROOT}/{info.resource}/", after)
        initial_end = initial_events_end and rv in ("", "0")
        return self._stream(flt, source, initial, initial_end, bookmarks, timeout, stopped)

    def _stream(
        self,
        flt: Filter,
        source: Subscription | DirectWatch,
        initial: list[Object],
        initial_end: bool,
        bookmarks: bool,
        timeout: float | None,
        stopped: Callable[[], bool],
    ) -> Generator[WatchEvent, None, None]:
        clock = self.clock
        deadline = clock() + timedelta(seconds=timeout) if timeout else None
        try:
            for obj in initial:
                yield WatchEvent("ADDED", obj)
            if initial_end and bookmarks:
                # As Kubernetes' sendInitialEvents: this bookmark's resourceVersion is where the
                # present state ends, the point a broken stream can resume from.
                yield self._bookmark(flt, source.position, initial_end=True)
            last_sent = clock()
            while not stopped():
                if deadline is not None and clock() >= deadline:
                    return
                batch = source.next(0.5)
                for ev in batch:
                    out = self._translate(flt, ev)
                    if out is not None:
                        yield out
                        last_sent = clock()
                idle = (clock() - last_sent).total_seconds()
                if bookmarks and idle >= self.bookmark_interval:
                    yield self._bookmark(flt, source.position)
                    last_sent = clock()
        finally:
            source.close()

    @staticmethod
    def _bookmark(flt: Filter, revision: int, *, initial_end: bool = False) -> WatchEvent:
        meta: dict[str, object] = {"resourceVersion": str(revision)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        return WatchEvent(
            "BOOKMARK",
            {"kind": flt.info.kind, "apiVersion": flt.info.api_version, "metadata": meta},
        )

    @staticmethod
    def _translate(flt: Filter, ev: CachedEvent) -> WatchEvent | None:
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
