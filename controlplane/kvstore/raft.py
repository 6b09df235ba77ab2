"""The pysyncobj adapter: carries MVCC commands through Raft and applies them in log order.

With peer.py (the peer transport), the only module importing pysyncobj. It offers
`ReplicatedStore`:
- `propose(command, timeout)` blocks until the command is applied locally and returns its
  `Applied`, or raises `UnavailableError` (no leader, too many requests, timed out, leader changed;
  the last two mean the outcome is unknown; nothing is retried here);
- `barrier()` / `read_barrier(timeout)` resolve once this replica has applied everything the
  leader had committed when the read arrived, the leader having confirmed with a quorum that
  it still leads (read index; see readindex.py): a read that follows sees every write
  acknowledged before it started (linearizable), and costs no log entry;
- `read(fn)` runs `fn(store)` under the apply lock.

Group commit: proposals queue here, not in pysyncobj. The Raft thread packs every queued
proposal into ONE log entry (`apply_batch`: each command still applied in order as its own
write transaction, with its own revision and result), so the Raft, pickle, journal and network
cost is per batch rather than per write. On the leader a batch leaves at once when no earlier
entry still waits for its quorum (a lone write is never delayed); otherwise proposals gather
until that entry commits, so a flood travels as about one entry per round trip. A follower
forwards its queued proposals to the leader as one batch per loop iteration.

The leader fsyncs its journal once per loop iteration that appended entries, right after
sending them; a follower before it acknowledges (`sync_journal`; off with --unsafe-no-fsync).

Peer traffic is authenticated with the cluster secret (peer.py: a keyed MAC per frame, checked
before anything is unpickled), because pysyncobj unpickles whatever reaches its port.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated
from pysyncobj.pipe_notifier import PipeNotifier

from controlplane.kvstore import errors
from controlplane.kvstore.backend import RaftStatus
from controlplane.kvstore.commands import Command
from controlplane.kvstore.config import Timing
from controlplane.kvstore.mvcc import Applied, MvccStore
from controlplane.kvstore.peer import PeerNode, PeerTransport, Sealer
from controlplane.kvstore.readindex import ReadIndexTracker
from controlplane.kvstore.snapshot import RESTORED_SNAPSHOT

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_IN_FLIGHT = 512
MAX_BATCH = 256  # proposals per log entry; a longer queue is drained in several entries

Callback = Callable[[Any, int], None]  # pysyncobj's (result, FAIL_REASON)


class _Machine(SyncObjConsumer):  # type: ignore[misc]
    """Holds the MVCC store; pysyncobj snapshots exactly the attributes set after its init."""

    def __init__(self, store: MvccStore, on_applied: Callable[[Applied], None]) -> None:
        self.lock = threading.RLock()
        self.on_applied = on_applied
        super().__init__()
        self.store = store

    @replicated  # type: ignore[untyped-decorator]
    def apply(self, command: Command) -> Applied:
        """One command per entry: what journals written before group commit hold."""
        with self.lock:
            result = self._apply_one(command)
        self.on_applied(result)
        return result

    @replicated  # type: ignore[untyped-decorator]
    def apply_batch(self, commands: tuple[Command, ...]) -> tuple[Applied, ...]:
        """A group-committed entry: each command in order, each its own transaction."""
        with self.lock:
            results = tuple(self._apply_one(command) for command in commands)
        if results:
            self.on_applied(results[-1])  # watchers read what changed themselves: wake once
        return results

    def _apply_one(self, command: Command) -> Applied:
        try:
            return self.store.apply(command)
        except Exception:
            # A bug, not bad input (the store reports those in Applied): never let it kill
            # the Raft thread, which would retry the same entry forever.
            log.exception("apply failed command=%r", command)
            return Applied(None, errors.KvError("etcdserver: apply failed"), 0)

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


class _RaftNode(SyncObj):  # type: ignore[misc]
    """pysyncobj's node with one Raft rule restored on the follower side.

    pysyncobj's leader rolls a follower's next index back to what the follower had
    acknowledged, so under load it re-sends entries that are still in flight; and its follower
    then deletes every entry after `prevLogIdx`, even ones that do not conflict (Raft says:
    truncate only on a term conflict). That drops applied entries and re-adds them, and a crash
    in between loses them from the journal. Here an append whose entries all match the log and
    whose uncovered tail holds only entries of the sender's term (so written by this very
    leader) is rewritten to start at the end of the log, carrying only the new entries, which
    pysyncobj appends without truncating. Real conflicts go through untouched (and raise the
    divergence alarm when they hit applied entries).
    """

    def __init__(
        self, *args: Any, machine: _Machine, sealer: Sealer | None, fsync: bool, **kwargs: Any
    ) -> None:
        # Set before pysyncobj's init (which starts the Raft thread), so the overridden hooks
        # never see them missing; pysyncobj leaves attributes that exist then out of snapshots.
        self._appends_sent: Counter[Any] = Counter()  # counted by PeerTransport
        self._tracker = ReadIndexTracker(sent=self._appends_sent)
        self._sealer = sealer
        self._batch_machine = machine
        self._proposals_lock = threading.Lock()
        self._proposals: list[tuple[Command, Callback]] = []
        self._in_flight = False  # the leader's last entry still waits for its quorum
        self._fsync = fsync
        self._synced = (0, 0)  # (index, term) of the last journal entry known to be on disk
        self._sent_upto = (0, 0)
        # read index: requests from other threads, then bookkeeping on the Raft thread only
        self._reads_lock = threading.Lock()
        self._reads_inbox: list[Future[None]] = []
        self._remote_reads: dict[int, tuple[Any, Future[None]]] = {}
        self._remote_seq = 0
        self._apply_waiters: list[tuple[int, Future[None]]] = []
        super().__init__(*args, transportClass=PeerTransport, **kwargs)
        self._notifier = PipeNotifier(self._poller)
        self.addOnTickCallback(self._propose_queued)  # first: its entry leaves in this tick
        self.addOnTickCallback(self._flush_appends)
        self.addOnTickCallback(self._serve_reads)
        properties: set[str] = getattr(self, "_SyncObj__properies")  # noqa: B009
        properties.update(self.__dict__)

    # ------------------------------------------------------------------ read index

    def read_index(self) -> Future[None]:
        """Resolves once this replica has applied everything committed when it was called."""
        future: Future[None] = Future()
        with self._reads_lock:
            self._reads_inbox.append(future)
        self._notifier.notify()
        return future

    def _serve_reads(self) -> None:
        """Raft thread: route new reads, confirm leadership, release reads once applied."""
        with self._reads_lock:
            inbox, self._reads_inbox = self._reads_inbox, []
        leader = self._getLeader()
        for future in inbox:
            self._route_read(future, leader)
        if self._remote_reads:
            self._drop_stale_remote_reads(leader)
        if self._isLeader():
            noop = getattr(self, "_SyncObj__noopIDx", None)
            commit = self.raftCommitIndex
            if noop is not None and commit >= noop:  # an entry of this term is committed
                if self._tracker.start(commit, self.otherNodes):
                    self._SyncObj__sendAppendEntries()  # the confirming heartbeat
                self._tracker.confirm(self.otherNodes)
        elif self._tracker.pending:
            self._tracker.fail_all(errors.leader_changed())
        if self._apply_waiters:
            applied = self.raftLastApplied
            ready = [w for w in self._apply_waiters if w[0] <= applied]
            self._apply_waiters = [w for w in self._apply_waiters if w[0] > applied]
            for _, future in ready:
                future.set_result(None)

    def _route_read(self, future: Future[None], leader: Any) -> None:
        if leader is not None and leader == self.selfNode:
            self._tracker.request(partial(self._on_read_index, future))
        elif leader is not None and self.isNodeConnected(leader):
            self._remote_seq += 1
            self._remote_reads[self._remote_seq] = (leader, future)
            self._SyncObj__transport.send(leader, {"type": "kv_read_index", "id": self._remote_seq})
        else:
            future.set_exception(errors.no_leader())

    def _drop_stale_remote_reads(self, leader: Any) -> None:
        reachable = self.leader_reachable()
        stale = [
            i for i, (node, _) in self._remote_reads.items() if not reachable or node != leader
        ]
        for read_id in stale:
            self._remote_reads.pop(read_id)[1].set_exception(errors.leader_changed())

    def _on_read_index(self, future: Future[None], index: int | None, error: Any) -> None:
        if error is not None or index is None:
            future.set_exception(error or errors.leader_changed())
        else:
            self._apply_waiters.append((index, future))
            self._notifier.notify()  # check applied on the next iteration

    def _on_read_message(self, node: Any, message: dict[str, Any]) -> None:
        if message["type"] == "kv_read_index":
            read_id = message.get("id")

            def reply(index: int | None, error: Any) -> None:
                self._SyncObj__transport.send(
                    node, {"type": "kv_read_index_reply", "id": read_id, "index": index}
                )

            if self._isLeader():
                self._tracker.request(reply)
                self._notifier.notify()
            else:
                reply(None, errors.leader_changed())
            return
        pending = self._remote_reads.pop(message.get("id", -1), None)
        if pending is not None:
            index = message.get("index")
            self._on_read_index(pending[1], index if isinstance(index, int) else None, None)

    @property
    def encryptor(self) -> Sealer | None:
        """What pysyncobj hands its connections (and does its key handshake for)."""
        return self._sealer

    def _getEncryptor(self) -> Sealer | None:  # noqa: N802 - pysyncobj's name
        return self._sealer

    # ------------------------------------------------------------------ group commit

    def enqueue(self, command: Command, callback: Callback) -> None:
        """Any thread: queue a proposal; the Raft thread proposes it with its batch."""
        with self._proposals_lock:
            self._proposals.append((command, callback))
            first = len(self._proposals) == 1
        if first and not self._in_flight:
            # Wake the Raft thread now, not at its next timer tick. With an entry in flight
            # its acknowledgement wakes the thread, which proposes the queue then.
            self._notifier.notify()

    def _propose_queued(self) -> None:
        """Raft thread: turn the queued proposals into one log entry (or forward them).

        The leader holds them while an earlier entry still waits for its quorum (unless the
        queue is long), so under load each round trip carries one entry with everything that
        arrived meanwhile; with nothing in flight they leave at once.
        """
        self._in_flight = bool(
            self._isLeader()
            and self.otherNodes
            and self.raftCommitIndex < self._SyncObj__getCurrentLogIndex()
        )
        if not self._proposals or (self._in_flight and len(self._proposals) < MAX_BATCH):
            return  # proposed when the entry in flight commits (this thread is woken then)
        with self._proposals_lock:
            queued, self._proposals = self._proposals, []
        for start in range(0, len(queued), MAX_BATCH):
            batch = queued[start : start + MAX_BATCH]
            commands = tuple(command for command, _ in batch)
            callbacks = [callback for _, callback in batch]
            self._batch_machine.apply_batch(commands, callback=partial(_fan_out, callbacks))
        self._checkCommandsToApply()  # into the log (or to the leader) in this very tick
        self._in_flight = bool(self._isLeader() and self.otherNodes)

    def leader_reachable(self) -> bool:
        """A leader is known and (unless it is this node) connected to this node."""
        leader = self._getLeader()
        if leader is None:
            return False
        return bool(leader == self.selfNode or self.isNodeConnected(leader))

    def _flush_appends(self) -> None:
        """Adaptive batching, run once per Raft loop iteration on the leader.

        New entries go out at once when nothing sent earlier is still waiting for its quorum
        (a lone write leaves immediately); otherwise they wait for the next acknowledgement,
        and go out together with the new commit index (a flood travels in batches, about one
        append per round trip). A commit index that moved is sent at once so followers apply.

        On a follower whose connection to the leader dropped, commands forwarded to it are
        failed at once as "leader changed" (outcome unknown) instead of waiting for a timeout.
        """
        if not self._isLeader():
            waiting: dict[int, Any] = getattr(self, "_SyncObj__commandsWaitingReply", {})
            if waiting and not self.leader_reachable():
                setattr(self, "_SyncObj__commandsWaitingReply", {})  # noqa: B010 - name-mangled
                for request_id in sorted(waiting):
                    waiting[request_id](None, FAIL_REASON.LEADER_CHANGED)
            return
        self._send_appends()
        # After sending, as etcd's leader does: the followers write while this one syncs. The
        # leader counts itself towards a quorum no earlier than the next iteration, after this.
        self.sync_journal()

    def _send_appends(self) -> None:
        log_index, commit = self._SyncObj__getCurrentLogIndex(), self.raftCommitIndex
        sent_log, sent_commit = self._sent_upto
        if (log_index, commit) == self._sent_upto:
            return
        if commit == sent_commit and commit < sent_log and self.otherNodes:
            return  # earlier entries still in flight: let new ones batch up behind them
        self._sent_upto = (log_index, commit)
        self._SyncObj__sendAppendEntries()
        if log_index != sent_log and not self.otherNodes:
            self._notifier.notify()  # alone: commit on the very next iteration

    def sync_journal(self) -> None:
        """Raft thread: fsync the journal if entries were appended since the last sync.

        Called before this node acknowledges entries (follower) or counts them for a quorum
        (leader): one fsync per appended batch (group commit), as etcd syncs its WAL. The
        journal is an mmap of one file; fdatasync on it writes its dirty pages and size.
        """
        if not self._fsync:
            return
        tail = (self._SyncObj__getCurrentLogIndex(), self._SyncObj__getCurrentLogTerm())
        if tail == self._synced:
            return
        journal = self._SyncObj__raftLog
        mapped = getattr(journal, "_FileJournal__journalFile", None)
        file = getattr(mapped, "_ResizableFile__f", None)
        if file is not None:
            os.fdatasync(file.fileno())
        else:
            journal.flush()  # another journal layout: msync through pysyncobj
        self._synced = tail

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802
        if not isinstance(message, dict):
            super()._SyncObj__onMessageReceived(node, message)
            return
        kind = message.get("type")
        if kind in ("kv_read_index", "kv_read_index_reply"):
            self._on_read_message(node, message)
            return
        if kind == "next_node_idx":
            self._tracker.on_append_acked(node)
        if kind == "append_entries" and "prevLogIdx" in message and "transmission" not in message:
            message = self._without_duplicates(message)
        if kind == "next_node_idx" and message.get("success") and not message.get("reset"):
            # pysyncobj moves next index back to what this ack covers, re-sending every entry
            # still in flight; keep it where it was (a gap is reported with reset=True).
            next_index: dict[Any, int] = getattr(self, "_SyncObj__raftNextIndex", {})
            before = next_index.get(node)
            super()._SyncObj__onMessageReceived(node, message)
            if before is not None and self._isLeader() and next_index.get(node, before) < before:
                next_index[node] = before
            return
        super()._SyncObj__onMessageReceived(node, message)

    def _without_duplicates(self, message: dict[str, Any]) -> dict[str, Any]:
        log_entries = self._SyncObj__raftLog
        first, last = log_entries[0][1], log_entries[-1][1]
        prev_idx, prev_term, term = message["prevLogIdx"], message["prevLogTerm"], message["term"]
        if prev_idx is None or prev_idx < first or prev_idx >= last:
            return message
        if log_entries[prev_idx - first][2] != prev_term:
            return message
        entries = message.get("entries", [])
        for _command, idx, entry_term in entries:
            if idx > last:
                break
            if log_entries[idx - first][2] != entry_term:
                return message  # a real conflict: let pysyncobj truncate
        covered = min(last, entries[-1][1]) if entries else prev_idx
        for pos in range(max(covered, prev_idx) + 1 - first, last + 1 - first):
            if log_entries[pos][2] != term:
                return message  # an older leader's tail: it may conflict
        fresh = [entry for entry in entries if entry[1] > last]
        tail_term = log_entries[last - first][2]
        return {**message, "entries": fresh, "prevLogIdx": last, "prevLogTerm": tail_term}


class _Slots:
    """A non-blocking bounded counter (threading.Semaphore is Python code around a Condition,
    a visible cost when taken and released once per write)."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._free = size

    def acquire(self) -> bool:
        with self._lock:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    def release(self) -> None:
        with self._lock:
            self._free += 1


def _fan_out(callbacks: list[Callback], results: Any, error: int) -> None:
    """pysyncobj's verdict on a batch, handed to each proposal in it."""
    if error == FAIL_REASON.SUCCESS and isinstance(results, tuple):
        if len(results) == len(callbacks):
            for callback, result in zip(callbacks, results, strict=True):
                callback(result, error)
            return
        log.error("batch result mismatch proposals=%d results=%d", len(callbacks), len(results))
    for callback in callbacks:
        callback(None, error)


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
        snapshot_count: int = 10_000,
        fsync: bool = True,
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
            password=None,  # peer.py authenticates frames (pysyncobj's Fernet costs far more)
            journalFile=os.path.join(data_dir, "raft.journal"),
            fullDumpFile=os.path.join(data_dir, "raft.dump"),
            appendEntriesUseBatch=True,  # _RaftNode sends at once, batching what queued up
            appendEntriesPeriod=timing.heartbeat,
            raftMinTimeout=timing.election_timeout / 2,
            raftMaxTimeout=timing.election_timeout,
            connectionTimeout=max(3.5, timing.election_timeout * 2),
            connectionRetryTime=min(1.0, timing.election_timeout / 2),
            leaderFallbackTimeout=timing.election_timeout * 2,
            commandsWaitLeader=False,
            commandsQueueSize=MAX_IN_FLIGHT * 2,
            logCompactionMinEntries=snapshot_count,
            logCompactionMinTime=3600,
            dynamicMembershipChange=False,
        )
        self._alarm = _DivergenceAlarm()
        logging.getLogger("pysyncobj.syncobj").addHandler(self._alarm)
        self._slots = _Slots(MAX_IN_FLIGHT)
        self._raft = _RaftNode(
            self_address,
            peer_addresses,
            conf=conf,
            consumers=[self._machine],
            nodeClass=PeerNode,
            machine=self._machine,
            sealer=None if password is None else Sealer(password),
            fsync=fsync,
        )
        self.self_address = self_address
        self._stopped = False

    # ------------------------------------------------------------------ writes

    def submit(self, command: Command) -> Future[Applied]:
        """Propose without blocking; the future resolves once the command is applied here.

        Raises at once (nothing proposed) when stopped, diverged, out of slots or leaderless.
        A slot stays taken until pysyncobj reports the proposal's fate, so at most
        MAX_IN_FLIGHT proposals are ever in flight, however long callers wait.
        """
        if self._stopped:
            raise errors.stopped()
        if self._alarm.raised:
            raise errors.corrupt()
        if not self._slots.acquire():
            raise errors.too_many_requests()
        if not self._raft.leader_reachable():
            self._slots.release()
            raise errors.no_leader()  # nothing was sent: a definite failure
        future: Future[Applied] = Future()

        def callback(result: Any, err: int) -> None:
            self._slots.release()
            outcome: Applied | errors.KvError
            if err == FAIL_REASON.SUCCESS:
                ok = isinstance(result, Applied)
                outcome = result if ok else errors.KvError("etcdserver: apply failed")
            elif err in (FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER):
                outcome = errors.no_leader()
            elif err == FAIL_REASON.QUEUE_FULL:
                outcome = errors.too_many_requests()
            else:
                outcome = errors.leader_changed()
            if isinstance(outcome, Applied):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

        self._raft.enqueue(command, callback)
        return future

    def propose(self, command: Command, timeout: float) -> Applied:
        try:
            return self.submit(command).result(timeout)
        except TimeoutError:
            raise errors.timed_out() from None

    # ------------------------------------------------------------------ reads

    def barrier(self) -> Future[None]:
        """Resolves once every write acknowledged before the call is visible here (read index
        from the leader, confirmed by a quorum, then applied locally); no log entry."""
        if self._stopped:
            raise errors.stopped()
        return self._raft.read_index()

    def read_barrier(self, timeout: float) -> None:
        try:
            self.barrier().result(timeout)
        except TimeoutError:
            raise errors.timed_out() from None

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
        self._raft.destroy()
        logging.getLogger("pysyncobj.syncobj").removeHandler(self._alarm)
