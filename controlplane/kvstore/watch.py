"""The Watch service: streams of MVCC changes, in revision order, from the local replica.

Each stream keeps its watchers and reads what changed from the store's change log, from the
watcher's next revision on, whenever the Raft thread applies something (`WatchHub`), so a
client resuming at `last + 1` on any replica sees every change exactly once. A start revision
below the compaction point cancels the watcher with `compact_revision`, as etcd does. Progress
notifications (requested, or every --experimental-watch-progress-notify-interval for watchers
created with `progress_notify`) never claim a revision whose events were not yet sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane.kvstore.mvcc import Applied, Change, MvccStore
from kubelab.gen.etcd import rpc_pb2, rpc_pb2_grpc

if TYPE_CHECKING:
    from controlplane.kvstore.node import Context, Node

log = logging.getLogger(__name__)

PROGRESS_WATCH_ID = -1


class WatchHub:
    """Wakes every watch stream after each apply (they then read what changed themselves).

    `on_applied` runs on the Raft thread; streams live on the event loop, so it only
    schedules their wake-ups there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}

    def on_applied(self, _result: Applied) -> None:
        with self._lock:
            wakers = list(self._wakers.items())
        for event, loop in wakers:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(event.set)

    def register(self, event: asyncio.Event) -> None:
        with self._lock:
            self._wakers[event] = asyncio.get_running_loop()

    def unregister(self, event: asyncio.Event) -> None:
        with self._lock:
            self._wakers.pop(event, None)


@dataclass
class _Watcher:
    watch_id: int
    key: bytes
    range_end: bytes
    next_rev: int
    prev_kv: bool
    no_put: bool
    no_delete: bool
    progress_notify: bool = False
    last_sent: float = 0.0

    def wants(self, change: Change) -> bool:
        if change.record.tombstone:
            return not self.no_delete
        return not self.no_put


class WatchServicer(rpc_pb2_grpc.WatchServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    async def Watch(  # noqa: N802 - etcd's method name
        self, request_iterator: AsyncIterator[rpc_pb2.WatchRequest], context: Context
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        wake = asyncio.Event()
        inbox: asyncio.Queue[rpc_pb2.WatchRequest | None] = asyncio.Queue()

        async def reader() -> None:
            try:
                async for req in request_iterator:
                    inbox.put_nowait(req)
                    wake.set()
            except Exception as exc:  # the client went away
                log.debug("watch stream reader ended: %s", exc)
            inbox.put_nowait(None)
            wake.set()

        task = asyncio.ensure_future(reader())
        self.node.hub.register(wake)
        try:
            async for response in self._serve(inbox, wake):
                yield response
        finally:
            self.node.hub.unregister(wake)
            task.cancel()

    async def _serve(  # noqa: PLR0912 - one loop: requests, catch-up, progress
        self,
        inbox: asyncio.Queue[rpc_pb2.WatchRequest | None],
        wake: asyncio.Event,
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        watchers: dict[int, _Watcher] = {}
        next_id = 0
        interval = self.node.config.watch_progress_notify_interval
        tick = min(1.0, interval / 2)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), tick)
            wake.clear()
            progress_wanted = False
            while not inbox.empty():
                req = inbox.get_nowait()
                if req is None:
                    return
                which = req.WhichOneof("request_union")
                if which == "create_request":
                    create = req.create_request
                    watch_id = create.watch_id
                    if watch_id == 0 or watch_id in watchers:
                        while next_id in watchers:
                            next_id += 1
                        watch_id = next_id
                        next_id += 1
                    current = self.node.read(lambda s: s.revision)
                    start = create.start_revision if create.start_revision > 0 else current + 1
                    watchers[watch_id] = _Watcher(
                        watch_id=watch_id,
                        key=create.key,
                        range_end=create.range_end,
                        next_rev=start,
                        prev_kv=create.prev_kv,
                        no_put=rpc_pb2.WatchCreateRequest.NOPUT in create.filters,
                        no_delete=rpc_pb2.WatchCreateRequest.NODELETE in create.filters,
                        progress_notify=create.progress_notify,
                        last_sent=time.monotonic(),
                    )
                    yield rpc_pb2.WatchResponse(
                        header=self.node.header(current), watch_id=watch_id, created=True
                    )
                elif which == "cancel_request":
                    watch_id = req.cancel_request.watch_id
                    if watchers.pop(watch_id, None) is not None:
                        yield rpc_pb2.WatchResponse(
                            header=self.node.header(), watch_id=watch_id, canceled=True
                        )
                elif which == "progress_request":
                    progress_wanted = True  # answered below, once every watcher caught up
            now = time.monotonic()
            for watcher in list(watchers.values()):
                response = self._catch_up(watcher)
                if response is None:
                    if watcher.progress_notify and now - watcher.last_sent >= interval:
                        watcher.last_sent = now
                        yield rpc_pb2.WatchResponse(
                            header=self.node.header(watcher.next_rev - 1),
                            watch_id=watcher.watch_id,
                        )
                    continue
                watcher.last_sent = now
                if response.canceled:
                    del watchers[watcher.watch_id]
                yield response
            if progress_wanted:
                # every watcher has been sent all it wants up to its next_rev - 1
                upto = [w.next_rev - 1 for w in watchers.values()]
                current = self.node.read(lambda s: s.revision)
                yield rpc_pb2.WatchResponse(
                    header=self.node.header(min([current, *upto])), watch_id=PROGRESS_WATCH_ID
                )

    def _catch_up(self, w: _Watcher) -> rpc_pb2.WatchResponse | None:
        def collect(store: MvccStore) -> tuple[int, int, list[Change]] | None:
            if w.next_rev > store.revision:
                return None
            if w.next_rev < store.compact_revision:
                return (store.revision, store.compact_revision, [])
            return (store.revision, 0, store.changes_since(w.next_rev, w.key, w.range_end))

        found = self.node.read(collect)
        if found is None:
            return None
        revision, compacted_at, changes = found
        header = self.node.header(revision)
        if compacted_at:
            return rpc_pb2.WatchResponse(
                header=header,
                watch_id=w.watch_id,
                canceled=True,
                compact_revision=compacted_at,
                cancel_reason="etcdserver: mvcc: required revision has been compacted",
            )
        w.next_rev = revision + 1
        events = [c.to_event(prev_kv=w.prev_kv) for c in changes if w.wants(c)]
        if not events:
            return None
        return rpc_pb2.WatchResponse(header=header, watch_id=w.watch_id, events=events)
