"""The watch cache: one store watch per resource, fanned out to every watching client.

A `ResourceCache` lists its key prefix once, then follows one store watch from that revision.
It keeps the current objects (for watches that start with the present state) and a bounded
window of recent events, each decoded once. A client watch from resourceVersion R reads the
window after R; if R is older than the window it gets a direct store watch (which answers 410 if
R was compacted), and a client that falls behind the window gets 410 Gone and relists, as with
Kubernetes' cacher. Events are delivered in revision order, none lost or repeated.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlplane.apiserver.errors import Compacted, StoreError
from controlplane.apiserver.storage import KV, EventType, Store, StoreEvent, StoreWatch
from kubelab.api.errors import Gone
from kubelab.api.types import copy_json

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def decode(kv: KV, revision: int | None = None) -> Obj:
    obj: Obj = json.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision or kv.mod_revision)
    return obj


@dataclass(frozen=True)
class CachedEvent:
    """A decoded store event: `obj` is the new state (the last state for a delete)."""

    type: EventType
    key: str
    obj: Obj
    prev: Obj | None
    revision: int
    _wire: dict[object, bytes] = field(default_factory=dict, compare=False, repr=False)

    def encoded(self) -> bytes:
        """`obj` as JSON, encoded once however many watchers send it."""
        return self.memo("json", lambda: json.dumps(self.obj, separators=(",", ":")).encode())

    def memo(self, key: object, encode: Callable[[], bytes]) -> bytes:
        """`encode()`, computed once per `key` (a front end's wire format) for all watchers.
        Two threads may both encode the first time; either result is the same bytes."""
        data = self._wire.get(key)
        if data is None:
            data = self._wire[key] = encode()
        return data


def cached(ev: StoreEvent) -> CachedEvent:
    """A store event that carries its previous value (`prev_kv`), decoded."""
    prev = decode(ev.prev) if ev.prev is not None else None
    return _event(ev, decode(ev.kv) if ev.type is EventType.PUT else None, prev)


def _event(ev: StoreEvent, obj: Obj | None, prev: Obj | None) -> CachedEvent:
    """The event for `ev`, given its decoded new value (None for a delete) and the previous
    object; a delete carries the last state, at the delete's revision."""
    if obj is None:
        obj = copy_json(prev or {"metadata": {}})
        obj.setdefault("metadata", {})["resourceVersion"] = str(ev.kv.mod_revision)
    return CachedEvent(ev.type, ev.kv.key, obj, prev, ev.kv.mod_revision)


class Subscription:
    """One client's view of a cache: `next(timeout)` returns the events after its position."""

    def __init__(self, cache: ResourceCache, position: int) -> None:
        self.cache = cache
        self.position = position
        self.closed = False

    def next(self, timeout: float) -> list[CachedEvent]:
        return self.cache.read_after(self, timeout)

    def poll(self) -> list[CachedEvent]:
        """The events after this position now, without waiting (Gone if it fell behind)."""
        return self.cache.read_after(self, 0)

    def close(self) -> None:
        self.closed = True
        self.cache.wake()


class DirectWatch:
    """A client watch served straight from the store (its start is older than the cache)."""

    def __init__(self, store: Store, prefix: str, after: int) -> None:
        self.position = after
        self.closed = False
        self._watch: StoreWatch = store.watch(prefix, after + 1)
        self._batches: deque[list[CachedEvent]] = deque()
        self._error: Exception | None = None
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True, name="direct-watch").start()

    def _pump(self) -> None:
        try:
            for batch in self._watch.events():
                with self._cond:
                    self._batches.append([cached(e) for e in batch])
                    self._cond.notify_all()
        except Exception as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def next(self, timeout: float) -> list[CachedEvent]:
        with self._cond:
            if not self._batches and self._error is None:
                self._cond.wait(timeout)
            if self._batches:
                batch = self._batches.popleft()
                self.position = batch[-1].revision
                return batch
            if isinstance(self._error, Compacted):
                raise Gone(
                    f"too old resource version: {self.position} ({self._error.compact_revision})"
                )
            if self._error is not None:
                raise self._error
            return []

    def close(self) -> None:
        self.closed = True
        self._watch.close()


class ResourceCache:
    def __init__(self, store: Store, prefix: str, *, capacity: int = 4096) -> None:
        self.store = store
        self.prefix = prefix
        self.capacity = capacity
        self._cond = threading.Condition()
        self._events: deque[CachedEvent] = deque()
        self._revs: deque[int] = deque()
        self.state: dict[str, Obj] = {}
        self.revision = 0  # everything up to here is applied
        self.floor = 0  # events at or before `floor` are not in the window
        self._ready = threading.Event()
        self._stopped = False
        self._watch: StoreWatch | None = None
        self._listeners: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"cache{prefix}")
        self._thread.start()

    def wait_ready(self, timeout: float = 10.0) -> None:
        if not self._ready.wait(timeout):
            raise StoreError(f"watch cache for {self.prefix} could not list the store")

    def _relist(self) -> None:
        result = self.store.range(self.prefix)
        state = {kv.key: decode(kv) for kv in result.kvs}
        with self._cond:
            self.state = state
            self.revision = self.floor = result.revision
            self._events.clear()
            self._revs.clear()
            self._cond.notify_all()
        self._ready.set()

    def _run(self) -> None:
        backoff = 0.1
        need_list = True
        while not self._stopped:
            try:
                if need_list:
                    self._relist()
                    need_list = False
                # No previous values from the store: the cache's own state is the object
                # before each event (it has applied every revision before it).
                self._watch = self.store.watch(self.prefix, self.revision + 1, prev_kv=False)
                for batch in self._watch.events():
                    # Decoded before taking the lock: readers wait for the lock, not for JSON.
                    decoded = [
                        (e, decode(e.kv) if e.type is EventType.PUT else None) for e in batch
                    ]
                    self._apply(decoded)
                    backoff = 0.1
            except Compacted:
                log.warning(
                    "watch cache fell behind a compaction prefix=%s; relisting", self.prefix
                )
                need_list = True
            except Exception as exc:
                if self._stopped:
                    return
                log.warning("watch cache store watch broke prefix=%s err=%s", self.prefix, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _apply(self, batch: list[tuple[StoreEvent, Obj | None]]) -> None:
        """Apply store events (with their decoded new values) in order."""
        with self._cond:
            for raw, obj in batch:
                if raw.kv.mod_revision <= self.revision:
                    continue  # seen before the store watch was resumed
                ev = _event(raw, obj, self.state.get(raw.kv.key))
                if ev.type is EventType.DELETE:
                    self.state.pop(ev.key, None)
                else:
                    self.state[ev.key] = ev.obj
                self._events.append(ev)
                self._revs.append(ev.revision)
                self.revision = ev.revision
            while len(self._events) > self.capacity:
                dropped = self._events.popleft()
                self._revs.popleft()
                self.floor = dropped.revision
            self._cond.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (from the cache's thread, after the lock is released) whenever
        events have been applied: how an event loop learns there is something to read. It must
        not block: an event loop's `call_soon_threadsafe` is what it is for."""
        with self._cond:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._cond:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def snapshot(self) -> tuple[list[Obj], int]:
        with self._cond:
            return list(self.state.values()), self.revision

    def subscribe(self, after: int) -> Subscription:
        return Subscription(self, after)

    def read_after(self, sub: Subscription, timeout: float) -> list[CachedEvent]:
        with self._cond:
            if timeout > 0 and sub.position >= self.revision and not sub.closed:
                self._cond.wait(timeout)
            if sub.position < self.floor:
                raise Gone(f"too old resource version: {sub.position} ({self.floor})")
            start = bisect.bisect_right(self._revs, sub.position)
            events = [self._events[i] for i in range(start, len(self._events))]
            if events:
                sub.position = events[-1].revision
            return events

    def stop(self) -> None:
        self._stopped = True
        if self._watch is not None:
            self._watch.close()


class WatchCaches:
    """The caches of all resources, created on first use."""

    def __init__(self, store: Store, *, capacity: int = 4096) -> None:
        self.store = store
        self.capacity = capacity
        self._caches: dict[str, ResourceCache] = {}
        self._lock = threading.Lock()

    def get(self, prefix: str) -> ResourceCache:
        with self._lock:
            cache = self._caches.get(prefix)
            if cache is None:
                cache = self._caches[prefix] = ResourceCache(
                    self.store, prefix, capacity=self.capacity
                )
        cache.wait_ready()
        return cache

    def stop(self) -> None:
        with self._lock:
            for cache in self._caches.values():
                cache.stop()

    def watch_count(self) -> int:
        return len(self._caches)


Source = Subscription | DirectWatch
Clock = Callable[[], float]
