"""WatchStream (what a watch sends, as values), gRPC frames encoded once, and the event loop's
shared wake-ups: no IO, a fake cache and a real asyncio loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controlplane.apiserver.grpc_watch import Wakeups, _close_opened, frame
from controlplane.apiserver.options import Filter, WatchEvent
from controlplane.apiserver.storage import KV, EventType, StoreEvent
from controlplane.apiserver.watchcache import CachedEvent, cached
from controlplane.apiserver.watching import INITIAL_EVENTS_END, WatchStream
from kubelab.api.registry import REGISTRY
from kubelab.api.selectors import parse_label_selector
from kubelab.gen.api import api_pb2

CONFIGMAPS = REGISTRY.get("", "v1", "configmaps")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PREFIX = "/registry/configmaps/"


def cm(name: str, rev: int, labels: dict[str, str] | None = None) -> KV:
    obj = {"metadata": {"name": name, "namespace": "default", "labels": labels or {}}}
    return KV(f"{PREFIX}default/{name}", json.dumps(obj).encode(), rev, rev)


def put(name: str, rev: int, labels: dict[str, str] | None = None, prev: KV | None = None) -> Any:
    return cached(StoreEvent(EventType.PUT, cm(name, rev, labels), prev))


class FakeSource:
    def __init__(self, position: int) -> None:
        self.position = position


def stream(
    *,
    labels: str = "",
    initial: list[dict[str, Any]] | None = None,
    initial_end: bool = False,
    bookmarks: bool = True,
    deadline: datetime | None = None,
) -> WatchStream:
    assert CONFIGMAPS is not None
    flt = Filter(CONFIGMAPS, "default", parse_label_selector(labels))
    return WatchStream(
        flt,
        FakeSource(7),  # type: ignore[arg-type]
        initial or [],
        initial_end=initial_end,
        bookmarks=bookmarks,
        bookmark_interval=timedelta(seconds=10),
        deadline=deadline,
        now=T0,
    )


def test_start_sends_the_present_state_then_the_initial_events_end_bookmark() -> None:
    s = stream(initial=[{"metadata": {"name": "a"}}], initial_end=True)
    out = s.start()
    assert [e.type for e in out] == ["ADDED", "BOOKMARK"]
    assert out[1].object["metadata"] == {
        "resourceVersion": "7",
        "annotations": {INITIAL_EVENTS_END: "true"},
    }
    assert s.start() == []  # the initial state is sent once


def test_feed_translates_by_filter_and_keeps_the_cached_event() -> None:
    s = stream(labels="on=yes")
    off = cm("s", 3, {"on": "no"})
    on = cm("s", 4, {"on": "yes"})
    events = [
        put("s", 3, {"on": "no"}),  # not matching: nothing
        put("s", 4, {"on": "yes"}, prev=off),  # starts matching: ADDED
        put("s", 5, {"on": "yes"}, prev=on),  # still matching: MODIFIED
        put("s", 6, {"on": "no"}, prev=cm("s", 5, {"on": "yes"})),  # stops: DELETED
    ]
    out = s.feed(events, T0)
    assert [e.type for e in out] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e.cached is not None and e.cached.obj is e.object for e in out)


def test_idle_streams_get_a_bookmark_each_interval_and_expire_at_the_deadline() -> None:
    s = stream(deadline=T0 + timedelta(seconds=30))
    assert s.feed([], T0 + timedelta(seconds=9)) == []
    [bookmark] = s.feed([], T0 + timedelta(seconds=10))
    assert bookmark.type == "BOOKMARK"
    assert bookmark.object["metadata"] == {"resourceVersion": "7"}
    assert s.feed([], T0 + timedelta(seconds=15)) == []  # the interval restarts after a send
    assert s.feed([put("x", 8)], T0 + timedelta(seconds=21)) != []
    assert s.feed([], T0 + timedelta(seconds=29)) == []
    assert not s.expired(T0 + timedelta(seconds=29))
    assert s.expired(T0 + timedelta(seconds=30))
    assert stream(bookmarks=False).feed([], T0 + timedelta(days=1)) == []


def test_frames_are_encoded_once_per_event_and_type() -> None:
    ev: CachedEvent = put("a", 3)
    added = frame(WatchEvent("ADDED", ev.obj, ev))
    assert frame(WatchEvent("ADDED", ev.obj, ev)) is added  # the same bytes for every stream
    modified = frame(WatchEvent("MODIFIED", ev.obj, ev))
    assert modified != added
    msg = api_pb2.WatchEvent.FromString(added)
    assert msg.type == "ADDED"
    assert json.loads(msg.object)["metadata"]["name"] == "a"
    # an object that is not the cached one (a bookmark, a Status) is encoded on its own
    other = frame(WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "3"}}, ev))
    assert json.loads(api_pb2.WatchEvent.FromString(other).object)["metadata"] == {
        "resourceVersion": "3"
    }


class FakeCache:
    """What Wakeups uses of a ResourceCache: listeners, called from the cache's own thread."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        self.listeners.remove(listener)

    def apply_from_another_thread(self) -> None:
        t = threading.Thread(target=lambda: [fn() for fn in self.listeners])
        t.start()
        t.join()


@pytest.mark.timeout(10)
def test_wakeups_share_one_future_per_cache_and_survive_a_cancelled_waiter() -> None:
    async def main() -> None:
        wakeups = Wakeups(asyncio.get_running_loop(), tick=60)
        cache: Any = FakeCache()
        signal = wakeups.next_change(cache)
        assert wakeups.next_change(cache) is signal
        assert len(cache.listeners) == 1  # one listener per cache, however many streams

        async def wait() -> None:
            await asyncio.shield(signal)

        waiters = [asyncio.create_task(wait()) for _ in range(3)]
        await asyncio.sleep(0)
        waiters[0].cancel()  # a stream that goes away must not cancel the others' wake-up
        await asyncio.sleep(0)
        assert not signal.cancelled()
        cache.apply_from_another_thread()
        await asyncio.wait_for(asyncio.gather(*waiters[1:]), 5)
        assert signal.done()
        assert wakeups.next_change(cache) is not signal  # the next batch gets a new one
        wakeups.close()
        assert cache.listeners == []

    asyncio.run(main())


@pytest.mark.timeout(10)
def test_the_tick_wakes_idle_waiters() -> None:
    async def main() -> None:
        wakeups = Wakeups(asyncio.get_running_loop(), tick=0.05)
        signal = wakeups.next_change(FakeCache())  # type: ignore[arg-type]
        await asyncio.wait_for(asyncio.shield(signal), 5)
        wakeups.close()

    asyncio.run(main())


def test_a_watch_opened_after_its_client_left_is_closed() -> None:
    closed: list[bool] = []

    class Source:
        position = 0

        def close(self) -> None:
            closed.append(True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        failed: asyncio.Future[Any] = loop.create_future()
        opened.add_done_callback(_close_opened)
        failed.add_done_callback(_close_opened)
        finished = stream()
        finished.source = Source()  # type: ignore[assignment]
        opened.set_result(finished)  # the pool finished opening after the client left
        failed.set_exception(RuntimeError("store down"))
        await asyncio.sleep(0)
        failed.exception()  # retrieved: no "never retrieved" warning

    asyncio.run(main())
    assert closed == [True]
