"""An informer: list + watch + a local cache + event handlers, like client-go's.

    informer = Informer(client, PODS, field_selector="spec.nodeName=node-1")
    informer.add_handler(on_add=..., on_update=..., on_delete=...)
    informer.start(); informer.wait_for_sync(10)
    pod = informer.get("default/web")

It lists, fills the cache, then watches from the list's resourceVersion. A broken stream resumes
from the last event (the client's Watch does that); 410 Gone relists and reconciles the cache,
calling handlers for what changed meanwhile. Handlers run on the informer's thread: keep them
short (enqueue a key into a WorkQueue).
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kubelab.api.errors import ApiError, Gone
from kubelab.api.types import Object, key_of
from kubelab.client.client import Client, Watch
from kubelab.client.resources import GVR, gvr

log = logging.getLogger(__name__)

AddFn = Callable[[Object], None]
UpdateFn = Callable[[Object, Object], None]
DeleteFn = Callable[[Object], None]


@dataclass(frozen=True)
class Handler:
    on_add: AddFn | None = None
    on_update: UpdateFn | None = None
    on_delete: DeleteFn | None = None


@dataclass
class Store:
    """The informer's cache, keyed by `namespace/name` (or `name`)."""

    items: dict[str, Object] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> Object | None:
        with self.lock:
            return self.items.get(key)

    def list(self) -> builtins.list[Object]:
        with self.lock:
            return list(self.items.values())

    def keys(self) -> builtins.list[str]:
        with self.lock:
            return list(self.items)


class Informer:
    def __init__(
        self,
        client: Client,
        resource: str | GVR,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        retry_delay: float = 1.0,
    ) -> None:
        self.client = client
        self.gvr = gvr(resource)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.retry_delay = retry_delay
        self.store = Store()
        self.resource_version = ""
        self._handlers: builtins.list[Handler] = []
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._watch: Watch | None = None
        self._thread: threading.Thread | None = None

    def add_handler(
        self,
        on_add: AddFn | None = None,
        on_update: UpdateFn | None = None,
        on_delete: DeleteFn | None = None,
    ) -> None:
        """Handlers added after start see later events (call `list()` for what is there)."""
        self._handlers.append(Handler(on_add, on_update, on_delete))

    def get(self, key: str) -> Object | None:
        return self.store.get(key)

    def list(self) -> builtins.list[Object]:
        return self.store.list()

    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float = 30.0) -> bool:
        return self._synced.wait(timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, daemon=True, name=f"informer-{self.gvr}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _emit_add(self, obj: Object) -> None:
        for h in self._handlers:
            if h.on_add:
                self._safely(h.on_add, obj)

    def _emit_update(self, old: Object, new: Object) -> None:
        for h in self._handlers:
            if h.on_update:
                self._safely(h.on_update, old, new)

    def _emit_delete(self, obj: Object) -> None:
        for h in self._handlers:
            if h.on_delete:
                self._safely(h.on_delete, obj)

    @staticmethod
    def _safely(fn: Callable[..., None], *args: Object) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("informer handler failed")

    def _relist(self) -> None:
        result = self.client.list_all(
            self.gvr,
            namespace=self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        fresh = {key_of(o): o for o in result.items}
        with self.store.lock:
            old = dict(self.store.items)
            self.store.items = dict(fresh)
        for key, obj in fresh.items():
            if key not in old:
                self._emit_add(obj)
            elif old[key]["metadata"].get("resourceVersion") != obj["metadata"].get(
                "resourceVersion"
            ):
                self._emit_update(old[key], obj)
        for key, obj in old.items():
            if key not in fresh:
                self._emit_delete(obj)
        self.resource_version = result.resource_version
        self._synced.set()

    def run(self) -> None:
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                self._watch = self.client.watch(
                    self.gvr,
                    namespace=self.namespace,
                    resource_version=self.resource_version,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                )
                for ev in self._watch:
                    self._apply(ev.type, ev.object)
                    self.resource_version = self._watch.resource_version
                if self._watch is not None:
                    self.resource_version = self._watch.resource_version or self.resource_version
            except Gone:
                log.info("informer watch expired resource=%s; relisting", self.gvr)
                need_list = True
            except ApiError as exc:
                if self._stop.is_set():
                    return
                log.warning("informer error resource=%s err=%s", self.gvr, exc)
                self._stop.wait(self.retry_delay)

    def _apply(self, etype: str, obj: Object) -> None:
        key = key_of(obj)
        with self.store.lock:
            old = self.store.items.get(key)
            if etype == "DELETED":
                self.store.items.pop(key, None)
            else:
                self.store.items[key] = obj
        if etype == "DELETED":
            self._emit_delete(obj)
        elif old is None:
            self._emit_add(obj)
        else:
            self._emit_update(old, obj)
