"""Pod status writes off the sync path: the latest status per pod, written by a few threads.

Like upstream's status manager: a pod sync hands its status over and moves on to the next pod
instead of waiting for an API round trip. A newer status for a pod replaces a queued one (only
the latest matters), one pod's statuses are written one at a time and in order, and several
pods are written in parallel (`workers` threads, started on first use). `idle_for` lets
lower-priority writers (Events) wait for a quiet moment; `wait_idle` waits for the queue to
drain.

It never retries by itself: `write` decides what a failure means (the API adapter keeps the
status for the next relist). It must not decide anything about what a status says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Object = dict[str, Any]
WriteFn = Callable[[Object, Object], None]


class StatusQueue:
    def __init__(self, write: WriteFn, workers: int = 4) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers}: need at least 1")
        self._write = write
        self._workers = workers
        self._pending: dict[str, tuple[Object, Object]] = {}  # uid -> (pod, status), FIFO
        self._inflight: set[str] = set()
        self._idle_since: float | None = time.monotonic()  # None while anything is queued
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def put(self, uid: str, pod: Object, status: Object) -> None:
        """Queue `status` for pod `uid`, replacing one still waiting for the same pod."""
        with self._cond:
            if self._stopped:
                return
            self._pending.pop(uid, None)  # re-queue at the end: older pods go first
            self._pending[uid] = (pod, status)
            self._idle_since = None
            if len(self._threads) < self._workers:
                t = threading.Thread(
                    target=self._run, name=f"status-{len(self._threads)}", daemon=True
                )
                self._threads.append(t)
                t.start()
            self._cond.notify()

    def drop(self, uid: str) -> None:
        """Forget a queued status of `uid` (the pod is gone); one being written finishes."""
        with self._cond:
            self._pending.pop(uid, None)
            self._note_idle()

    def _note_idle(self) -> None:
        """Start the idle clock if nothing is queued or being written now (lock held)."""
        if not self._pending and not self._inflight and self._idle_since is None:
            self._idle_since = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the queue last became empty; 0.0 while anything is queued or being
        written."""
        with self._cond:
            since = self._idle_since
        return 0.0 if since is None else time.monotonic() - since

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or being written (True), or `timeout` (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stop(self) -> None:
        """Stop the writers after the writes in flight; queued statuses are dropped."""
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._note_idle()
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)

    def _next(self) -> tuple[str, Object, Object] | None:
        """The oldest queued pod not being written now; None once stopped."""
        with self._cond:
            while not self._stopped:
                for uid in self._pending:
                    if uid not in self._inflight:
                        pod, status = self._pending.pop(uid)
                        self._inflight.add(uid)
                        return uid, pod, status
                self._cond.wait()
            return None

    def _run(self) -> None:
        while (item := self._next()) is not None:
            uid, pod, status = item
            try:
                self._write(pod, status)
            except Exception:
                log.exception("pod status write failed uid=%s", uid)
            finally:
                with self._cond:
                    self._inflight.discard(uid)
                    self._note_idle()
                    self._cond.notify_all()
