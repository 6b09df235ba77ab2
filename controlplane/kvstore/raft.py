"""The pysyncobj adapter: carries MVCC commands through Raft and applies them in log order.

This is the only module that imports pysyncobj. It offers `ReplicatedStore`:
- `propose(command, timeout)` blocks until the command is applied locally and returns its
  `Applied`, or raises `UnavailableError` (no leader, too many requests, timed out, leader changed;
  the last two mean the outcome is unknown; nothing is retried here);
- `read_barrier(timeout)` returns once a no-op proposed after the call is applied locally, so
  a read that follows sees every write acknowledged before it started (linearizable);
- `read(fn)` runs `fn(store)` under the apply lock.

Batching: pysyncobj normally sends appends on a timer (~one heartbeat per write); here every
proposal wakes the Raft thread and is sent at once, and commands queued meanwhile go out
together, so lone writes are fast and loaded writes batch themselves. Peer traffic is
encrypted and authenticated with the cluster secret (pysyncobj's `password`, Fernet), because
pysyncobj unpickles whatever reaches its port.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from controlplane.kvstore import errors
from controlplane.kvstore.backend import RaftStatus
from controlplane.kvstore.commands import Barrier, Command
from controlplane.kvstore.config import Timing
from controlplane.kvstore.mvcc import Applied, MvccStore
from controlplane.kvstore.snapshot import RESTORED_SNAPSHOT

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_IN_FLIGHT = 512


class _Machine(SyncObjConsumer):  # type: ignore[misc]
    """Holds the MVCC store; pysyncobj snapshots exactly the attributes set after its init."""

    def __init__(self, store: MvccStore, on_applied: Callable[[Applied], None]) -> None:
        self.lock = threading.RLock()
        self.on_applied = on_applied
        super().__init__()
        self.store = store

    @replicated  # type: ignore[untyped-decorator]
    def apply(self, command: Command) -> Applied:
        with self.lock:
            try:
                result = self.store.apply(command)
            except Exception:
                # A bug, not bad input (the store reports those in Applied): never let it kill
                # the Raft thread, which would retry the same entry forever.
                log.exception("apply failed command=%r", command)
                result = Applied(None, errors.KvError("etcdserver: apply failed"), 0)
        self.on_applied(result)
        return result

    def _deserialize(self, data: Any) -> None:
        with self.lock:
            super()._deserialize(data)
        log.info("state installed from a Raft snapshot revision=%d", self.store.revision)


class _DivergenceAlarm(logging.Handler):
    """pysyncobj logs (and carries on) when it truncates applied entries; we stop serving."""

    def __init__(self) -> None:
        super().__init__(logging.CRITICAL)
        self.raised = False

    def emit(self, record: logging.LogRecord) -> None:
        if "diverged" in record.getMessage():
            self.raised = True


class ReplicatedStore:
    def __init__(
        self,
        *,
        self_address: str,
        bind_address: str,
        peer_addresses: list[str],
        data_dir: str,
        timing: Timing,
        password: bytes | None,
        on_applied: Callable[[Applied], None] = lambda _: None,
    ) -> None:
        os.makedirs(data_dir, exist_ok=True)
        store = MvccStore()
        restored = os.path.join(data_dir, RESTORED_SNAPSHOT)
        if os.path.exists(restored):
            with open(restored, "rb") as f:
                store = MvccStore.load(f.read())
            log.info("starting from restored snapshot revision=%d", store.revision)
        self._machine = _Machine(store, on_applied)
        conf = SyncObjConf(
            bindAddress=bind_address,
            password=password,
            journalFile=os.path.join(data_dir, "raft.journal"),
            fullDumpFile=os.path.join(data_dir, "raft.dump"),
            appendEntriesUseBatch=False,
            appendEntriesPeriod=timing.heartbeat,
            raftMinTimeout=timing.election_timeout / 2,
            raftMaxTimeout=timing.election_timeout,
            connectionTimeout=max(3.5, timing.election_timeout * 2),
            connectionRetryTime=min(1.0, timing.election_timeout / 2),
            leaderFallbackTimeout=timing.election_timeout * 2,
            commandsWaitLeader=False,
            commandsQueueSize=MAX_IN_FLIGHT * 2,
            logCompactionMinEntries=20000,
            logCompactionMinTime=600,
            dynamicMembershipChange=False,
        )
        self._alarm = _DivergenceAlarm()
        logging.getLogger("pysyncobj.syncobj").addHandler(self._alarm)
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._raft = SyncObj(self_address, peer_addresses, conf=conf, consumers=[self._machine])
        self.self_address = self_address
        self._barrier_cond = threading.Condition()
        self._barrier_waiting: list[Future[None]] = []
        self._stopped = False
        self._barrier_timeout = timing.election_timeout * 3
        self._barrier_thread = threading.Thread(
            target=self._barrier_loop, name="kv-read-barrier", daemon=True
        )
        self._barrier_thread.start()

    # ------------------------------------------------------------------ writes

    def propose(self, command: Command, timeout: float) -> Applied:
        if self._stopped:
            raise errors.stopped()
        if self._alarm.raised:
            raise errors.KvError("etcdserver: corrupt cluster", "DATA_LOSS")
        if not self._slots.acquire(blocking=False):
            raise errors.too_many_requests()
        try:
            if self._raft._getLeader() is None:
                raise errors.no_leader()
            done = threading.Event()
            box: list[tuple[Any, int]] = []

            def callback(result: Any, err: int) -> None:
                box.append((result, err))
                done.set()

            self._machine.apply(command, callback=callback)
            if not done.wait(timeout):
                raise errors.timed_out()
            result, err = box[0]
            if err == FAIL_REASON.SUCCESS:
                if not isinstance(result, Applied):
                    raise errors.KvError("etcdserver: apply failed")
                return result
            if err in (FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER):
                raise errors.no_leader()
            if err == FAIL_REASON.QUEUE_FULL:
                raise errors.too_many_requests()
            raise errors.leader_changed()
        finally:
            self._slots.release()

    # ------------------------------------------------------------------ reads

    def read_barrier(self, timeout: float) -> None:
        future: Future[None] = Future()
        with self._barrier_cond:
            self._barrier_waiting.append(future)
            self._barrier_cond.notify()
        try:
            future.result(timeout)
        except TimeoutError:
            raise errors.timed_out() from None

    def _barrier_loop(self) -> None:
        # One barrier in flight at a time; every read that arrived before it was proposed
        # shares it, so a burst of reads costs one log entry.
        while True:
            with self._barrier_cond:
                while not self._barrier_waiting and not self._stopped:
                    self._barrier_cond.wait()
                if self._stopped:
                    batch, self._barrier_waiting = self._barrier_waiting, []
                    for f in batch:
                        f.set_exception(errors.stopped())
                    return
                batch, self._barrier_waiting = self._barrier_waiting, []
            try:
                self.propose(Barrier(), self._barrier_timeout)
            except errors.KvError as exc:
                for f in batch:
                    f.set_exception(exc)
            else:
                for f in batch:
                    f.set_result(None)

    def read(self, fn: Callable[[MvccStore], T]) -> T:
        with self._machine.lock:
            return fn(self._machine.store)

    # ------------------------------------------------------------------ status

    def status(self) -> RaftStatus:
        leader = self._raft._getLeader()
        address = None if leader is None else getattr(leader, "address", str(leader))
        return RaftStatus(
            leader=address,
            is_leader=address == self.self_address,
            term=self._raft.raftCurrentTerm,
            commit_index=self._raft.raftCommitIndex,
            applied_index=self._raft.raftLastApplied,
            diverged=self._alarm.raised,
        )

    def stop(self) -> None:
        self._stopped = True
        with self._barrier_cond:
            self._barrier_cond.notify_all()
        self._raft.destroy()
        logging.getLogger("pysyncobj.syncobj").removeHandler(self._alarm)
