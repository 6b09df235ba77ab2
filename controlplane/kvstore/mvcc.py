"""The MVCC key-value state machine with etcd v3 semantics: pure, deterministic, replayable.

`MvccStore.apply(command)` is the only way state changes. It reads no clock, no randomness and
no environment: whatever varies (times, lease ids) is inside the command. Every write
transaction that changes something raises the store revision by exactly one; each key keeps
its history of records (`create_revision`, `mod_revision`, `version`, `lease`) until a
`Compact`. Reads (`range`, `changes_since`, lease queries) never change state.

Requests and responses use etcd's protobuf messages (plain data); this module must not import
grpc or pysyncobj. `apply` never raises for bad input: it returns the etcd error in `Applied`,
and validates before it mutates, so a failed request leaves the store untouched.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import logging
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane.kvstore import errors
from controlplane.kvstore.commands import (
    Barrier,
    Command,
    Compact,
    LeaseExpire,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseRevoke,
    PublishMember,
    Write,
    WriteKind,
)
from kubelab.gen.etcd import kv_pb2, rpc_pb2

log = logging.getLogger(__name__)

MAX_LEASE_TTL = 9_000_000_000
MAX_TXN_OPS = 128
SNAPSHOT_VERSION = "kubelab-kvstore-snapshot-v1"
_RECORD_OVERHEAD = 48  # rough per-record bookkeeping, for the reported db size


@dataclass(frozen=True)
class Record:
    """One revision of one key; a tombstone (the key deleted at `mod`) has version 0."""

    key: bytes
    mod: int
    create: int
    version: int
    value: bytes
    lease: int

    @property
    def tombstone(self) -> bool:
        return self.version == 0

    def to_pb(self, *, keys_only: bool = False) -> kv_pb2.KeyValue:
        return kv_pb2.KeyValue(
            key=self.key,
            create_revision=self.create,
            mod_revision=self.mod,
            version=self.version,
            value=b"" if keys_only else self.value,
            lease=self.lease,
        )


@dataclass(frozen=True)
class Change:
    """A watch event: `record` written at `record.mod`; `prev` the live record it replaced."""

    record: Record
    prev: Record | None

    def to_event(self, *, prev_kv: bool) -> kv_pb2.Event:
        kind = kv_pb2.Event.DELETE if self.record.tombstone else kv_pb2.Event.PUT
        event = kv_pb2.Event(type=kind, kv=self.record.to_pb())
        if prev_kv and self.prev is not None:
            event.prev_kv.CopyFrom(self.prev.to_pb())
        return event


@dataclass
class Lease:
    lease_id: int
    ttl: int
    granted_ttl: int
    refreshed_at: float
    keys: set[bytes] = field(default_factory=set)

    @property
    def deadline(self) -> float:
        return self.refreshed_at + self.ttl


@dataclass(frozen=True)
class Applied:
    """What one command did: the response (or the etcd error) and the store revision after it."""

    response: Any
    error: errors.KvError | None
    revision: int
    changes: tuple[Change, ...] = ()


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    """etcd's range rule: empty end = the key alone; end b"\\0" = every key >= start."""
    if not end:
        return key == start
    if end == b"\x00":
        return key >= start
    return start <= key < end


class MvccStore:
    """The replicated state. Mutate only through `apply`; everything else is a read."""

    def __init__(self) -> None:
        self.revision = 1
        self.compact_revision = 0
        self.applied = 0
        self.size = 0
        self._keys: list[bytes] = []
        self._history: dict[bytes, list[Record]] = {}
        self._changes: dict[int, tuple[Change, ...]] = {}
        self.leases: dict[int, Lease] = {}
        self.members: dict[int, tuple[str, tuple[str, ...]]] = {}

    # ------------------------------------------------------------------ apply

    def apply(self, command: Command) -> Applied:
        self.applied += 1
        try:
            return self._apply(command)
        except errors.KvError as exc:
            return Applied(None, exc, self.revision)

    def _apply(self, command: Command) -> Applied:  # noqa: PLR0911 - one branch per command
        if isinstance(command, Write):
            return self._apply_write(command)
        if isinstance(command, Compact):
            self._compact(command.revision)
            return Applied(rpc_pb2.CompactionResponse(), None, self.revision)
        if isinstance(command, LeaseGrant):
            return self._lease_grant(command)
        if isinstance(command, LeaseKeepAlive):
            lease = self._lease(command.lease_id)
            lease.refreshed_at = max(lease.refreshed_at, command.at)
            resp = rpc_pb2.LeaseKeepAliveResponse(ID=lease.lease_id, TTL=lease.ttl)
            return Applied(resp, None, self.revision)
        if isinstance(command, LeaseRevoke):
            self._lease(command.lease_id)
            changes = self._revoke(command.lease_id)
            return Applied(rpc_pb2.LeaseRevokeResponse(), None, self.revision, changes)
        if isinstance(command, LeaseExpire):
            expiring = self.leases.get(command.lease_id)
            if expiring is None or expiring.deadline > command.at:
                return Applied(None, None, self.revision)
            changes = self._revoke(command.lease_id)
            return Applied(rpc_pb2.LeaseRevokeResponse(), None, self.revision, changes)
        if isinstance(command, PublishMember):
            self.members[command.member_id] = (command.name, tuple(command.client_urls))
            return Applied(None, None, self.revision)
        if isinstance(command, Barrier):
            return Applied(None, None, self.revision)
        raise TypeError(f"unknown command {command!r}")

    def _apply_write(self, command: Write) -> Applied:
        rev = self.revision + 1
        pending: list[Change] = []
        response: Any
        if command.kind is WriteKind.PUT:
            put = rpc_pb2.PutRequest.FromString(command.body)
            self._check_put(put)
            response = self._put(put, rev, pending)
        elif command.kind is WriteKind.DELETE:
            delete = rpc_pb2.DeleteRangeRequest.FromString(command.body)
            self._check_delete(delete)
            response = self._delete(delete, rev, pending)
        else:
            txn = rpc_pb2.TxnRequest.FromString(command.body)
            path: list[bool] = []
            self._check_txn(txn, path)
            response = self._txn(txn, rev, pending, iter(path))
        return self._commit(rev, pending, response)

    def _commit(self, rev: int, pending: list[Change], response: Any) -> Applied:
        if pending:
            self.revision = rev
            self._changes[rev] = tuple(pending)
        return Applied(response, None, self.revision, tuple(pending))

    # ------------------------------------------------------------------ validation

    def _check_put(self, put: rpc_pb2.PutRequest) -> None:
        if not put.key:
            raise errors.empty_key()
        if put.ignore_value and put.value:
            raise errors.value_provided()
        if put.ignore_lease and put.lease:
            raise errors.lease_provided()
        if (put.ignore_value or put.ignore_lease) and self._latest(put.key) is None:
            raise errors.key_not_found()
        if put.lease and not put.ignore_lease and put.lease not in self.leases:
            raise errors.lease_not_found()

    def _check_delete(self, delete: rpc_pb2.DeleteRangeRequest) -> None:
        if not delete.key:
            raise errors.empty_key()

    def _check_txn(self, txn: rpc_pb2.TxnRequest, path: list[bool]) -> None:
        """Validate the branch each (nested) txn will take, recording it in `path`.

        Like etcd, the branches are chosen against the state before the txn runs.
        """
        if max(len(txn.compare), len(txn.success), len(txn.failure)) > MAX_TXN_OPS:
            raise errors.too_many_ops()
        ok = all(self._compare(c) for c in txn.compare)
        path.append(ok)
        ops = txn.success if ok else txn.failure
        puts: set[bytes] = set()
        deletes: list[tuple[bytes, bytes]] = []
        for op in ops:
            which = op.WhichOneof("request")
            if which == "request_put":
                self._check_put(op.request_put)
                if op.request_put.key in puts:
                    raise errors.duplicate_key()
                puts.add(op.request_put.key)
            elif which == "request_delete_range":
                self._check_delete(op.request_delete_range)
                deletes.append((op.request_delete_range.key, op.request_delete_range.range_end))
            elif which == "request_range":
                self._check_range(op.request_range)
            elif which == "request_txn":
                self._check_txn(op.request_txn, path)
        for key in puts:
            if any(in_range(key, start, end) for start, end in deletes):
                raise errors.duplicate_key()

    def _check_range(self, req: rpc_pb2.RangeRequest) -> None:
        if req.sort_order not in (0, 1, 2) or req.sort_target not in (0, 1, 2, 3, 4):
            raise errors.invalid_sort_option()
        if req.revision > self.revision:
            raise errors.future_revision()
        if 0 < req.revision < self.compact_revision:
            raise errors.compacted()

    # ------------------------------------------------------------------ writes

    def _put(self, put: rpc_pb2.PutRequest, rev: int, pending: list[Change]) -> rpc_pb2.PutResponse:
        prev = self._latest(put.key)
        value = prev.value if put.ignore_value and prev else put.value
        lease = prev.lease if put.ignore_lease and prev else put.lease
        record = Record(
            key=put.key,
            mod=rev,
            create=prev.create if prev else rev,
            version=prev.version + 1 if prev else 1,
            value=value,
            lease=lease,
        )
        self._append(record)
        if prev is not None and prev.lease and prev.lease != lease and prev.lease in self.leases:
            self.leases[prev.lease].keys.discard(put.key)
        if lease:
            self.leases[lease].keys.add(put.key)
        pending.append(Change(record, prev))
        resp = rpc_pb2.PutResponse()
        if put.prev_kv and prev is not None:
            resp.prev_kv.CopyFrom(prev.to_pb())
        return resp

    def _delete(
        self, delete: rpc_pb2.DeleteRangeRequest, rev: int, pending: list[Change]
    ) -> rpc_pb2.DeleteRangeResponse:
        resp = rpc_pb2.DeleteRangeResponse()
        for key in self._keys_in(delete.key, delete.range_end):
            prev = self._latest(key)
            if prev is None:
                continue
            self._delete_key(prev, rev, pending)
            resp.deleted += 1
            if delete.prev_kv:
                resp.prev_kvs.append(prev.to_pb())
        return resp

    def _delete_key(self, prev: Record, rev: int, pending: list[Change]) -> None:
        tomb = Record(key=prev.key, mod=rev, create=0, version=0, value=b"", lease=0)
        self._append(tomb)
        if prev.lease and prev.lease in self.leases:
            self.leases[prev.lease].keys.discard(prev.key)
        pending.append(Change(tomb, prev))

    def _txn(
        self,
        txn: rpc_pb2.TxnRequest,
        rev: int,
        pending: list[Change],
        path: Iterable[bool],
    ) -> rpc_pb2.TxnResponse:
        steps = iter(path)
        ok = next(steps)
        resp = rpc_pb2.TxnResponse(succeeded=ok)
        for op in txn.success if ok else txn.failure:
            which = op.WhichOneof("request")
            out = rpc_pb2.ResponseOp()
            if which == "request_put":
                out.response_put.CopyFrom(self._put(op.request_put, rev, pending))
            elif which == "request_delete_range":
                deleted = self._delete(op.request_delete_range, rev, pending)
                out.response_delete_range.CopyFrom(deleted)
            elif which == "request_range":
                out.response_range.CopyFrom(self._range(op.request_range, rev))
            elif which == "request_txn":
                out.response_txn.CopyFrom(self._txn(op.request_txn, rev, pending, steps))
            resp.responses.append(out)
        return resp

    def _compact(self, revision: int) -> None:
        if revision <= self.compact_revision:
            raise errors.compacted()
        if revision > self.revision:
            raise errors.future_revision()
        self.compact_revision = revision
        gone: set[bytes] = set()
        for key, hist in self._history.items():
            keep_from = 0
            for i, rec in enumerate(hist):
                if rec.mod <= revision:
                    keep_from = i
            if hist[keep_from].mod <= revision and hist[keep_from].tombstone:
                keep_from += 1
            for rec in hist[:keep_from]:
                self.size -= len(rec.key) + len(rec.value) + _RECORD_OVERHEAD
            del hist[:keep_from]
            if not hist:
                gone.add(key)
        for key in gone:
            del self._history[key]
        if gone:
            self._keys = [k for k in self._keys if k not in gone]
        for rev in [r for r in self._changes if r < revision]:
            del self._changes[rev]

    def _lease_grant(self, command: LeaseGrant) -> Applied:
        if command.ttl > MAX_LEASE_TTL:
            raise errors.lease_ttl_too_large()
        if command.lease_id in self.leases:
            raise errors.lease_exists()
        if command.lease_id <= 0:
            raise errors.InvalidRequestError(f"etcdserver: invalid lease ID {command.lease_id}")
        self.leases[command.lease_id] = Lease(
            command.lease_id, command.ttl, command.ttl, command.at
        )
        resp = rpc_pb2.LeaseGrantResponse(ID=command.lease_id, TTL=command.ttl)
        return Applied(resp, None, self.revision)

    def _revoke(self, lease_id: int) -> tuple[Change, ...]:
        lease = self.leases.pop(lease_id)
        rev = self.revision + 1
        pending: list[Change] = []
        for key in sorted(lease.keys):
            prev = self._latest(key)
            if prev is not None and prev.lease == lease_id:
                self._delete_key(prev, rev, pending)
        return self._commit(rev, pending, None).changes

    def _lease(self, lease_id: int) -> Lease:
        lease = self.leases.get(lease_id)
        if lease is None:
            raise errors.lease_not_found()
        return lease

    def _append(self, record: Record) -> None:
        hist = self._history.get(record.key)
        if hist is None:
            hist = self._history[record.key] = []
            bisect.insort(self._keys, record.key)
        hist.append(record)
        self.size += len(record.key) + len(record.value) + _RECORD_OVERHEAD

    # ------------------------------------------------------------------ reads

    def _latest(self, key: bytes) -> Record | None:
        hist = self._history.get(key)
        if not hist or hist[-1].tombstone:
            return None
        return hist[-1]

    def _at(self, key: bytes, revision: int) -> Record | None:
        for rec in reversed(self._history.get(key, ())):
            if rec.mod <= revision:
                return None if rec.tombstone else rec
        return None

    def _keys_in(self, key: bytes, range_end: bytes) -> Sequence[bytes]:
        if not range_end:
            return [key] if key in self._history else []
        lo = bisect.bisect_left(self._keys, key)
        hi = len(self._keys) if range_end == b"\x00" else bisect.bisect_left(self._keys, range_end)
        return self._keys[lo:hi] if hi > lo else []

    def _compare(self, cmp: rpc_pb2.Compare) -> bool:
        records: list[Record | None] = [
            self._latest(k) for k in self._keys_in(cmp.key, cmp.range_end)
        ]
        records = [r for r in records if r is not None]
        if not cmp.range_end and not records:
            records = [None]
        return all(_compare_one(cmp, rec) for rec in records)

    def range(self, req: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        """etcd's Range against this store; raises KvError for a compacted/future revision."""
        return self._range(req, self.revision)

    def _range(self, req: rpc_pb2.RangeRequest, current: int) -> rpc_pb2.RangeResponse:
        """Range as of `current` (inside a txn: the txn's own revision, so it reads its writes)."""
        self._check_range(req)
        revision = req.revision if req.revision > 0 else current
        found = [self._at(k, revision) for k in self._keys_in(req.key, req.range_end)]
        recs = [r for r in found if r is not None]
        resp = rpc_pb2.RangeResponse(count=len(recs))
        recs = [r for r in recs if _passes_filters(req, r)]
        order = req.sort_order
        if order == rpc_pb2.RangeRequest.NONE and req.sort_target != rpc_pb2.RangeRequest.KEY:
            order = rpc_pb2.RangeRequest.ASCEND
        if order != rpc_pb2.RangeRequest.NONE:
            recs.sort(key=lambda r: _sort_key(req.sort_target, r))
            if order == rpc_pb2.RangeRequest.DESCEND:
                recs.reverse()
        if req.count_only:
            return resp
        if req.limit > 0 and len(recs) > req.limit:
            recs = recs[: req.limit]
            resp.more = True
        resp.kvs.extend(r.to_pb(keys_only=req.keys_only) for r in recs)
        return resp

    def hash_kv(self, revision: int = 0) -> tuple[int, int]:
        """(crc32 of every key record from the compaction point up to `revision`, revision).

        Replicas that applied the same log give the same hash at the same revision, whatever
        they applied since: the corruption check of etcd's HashKV.
        """
        rev = revision if revision > 0 else self.revision
        if rev > self.revision:
            raise errors.future_revision()
        if rev < self.compact_revision:
            raise errors.compacted()
        crc = 0
        for key in self._keys:
            for r in self._history[key]:
                if r.mod <= rev:
                    head = f"{r.mod},{r.create},{r.version},{r.lease},{len(r.key)}:".encode()
                    crc = zlib.crc32(head + r.key + r.value, crc)
        return crc, rev

    def changes_since(self, start: int, key: bytes, range_end: bytes) -> list[Change]:
        """Changes at revisions >= `start` touching [key, range_end), in revision order."""
        if start < self.compact_revision:
            raise errors.compacted()
        out: list[Change] = []
        for rev in range(max(start, 1), self.revision + 1):
            for change in self._changes.get(rev, ()):
                if in_range(change.record.key, key, range_end):
                    out.append(change)
        return out

    def lease_deadlines(self) -> dict[int, float]:
        return {lid: lease.deadline for lid, lease in self.leases.items()}

    # ------------------------------------------------------------------ snapshots

    def dump(self) -> bytes:
        """A canonical, self-checking serialization (equal states give equal bytes)."""

        def rec(r: Record) -> list[Any]:
            return [_b64(r.key), r.mod, r.create, r.version, _b64(r.value), r.lease]

        state = {
            "format": SNAPSHOT_VERSION,
            "revision": self.revision,
            "compact_revision": self.compact_revision,
            "history": [[rec(r) for r in self._history[k]] for k in self._keys],
            "changes": [
                [rev, [[rec(c.record), rec(c.prev) if c.prev else None] for c in changes]]
                for rev, changes in sorted(self._changes.items())
            ],
            "leases": [
                [le.lease_id, le.ttl, le.granted_ttl, le.refreshed_at, sorted(map(_b64, le.keys))]
                for le in sorted(self.leases.values(), key=lambda le: le.lease_id)
            ],
            "members": [
                [mid, name, list(urls)] for mid, (name, urls) in sorted(self.members.items())
            ],
        }
        body = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        return body + b"\n" + hashlib.sha256(body).hexdigest().encode()

    @classmethod
    def load(cls, blob: bytes) -> MvccStore:
        body, _, digest = blob.rpartition(b"\n")
        if not body or hashlib.sha256(body).hexdigest().encode() != digest.strip():
            raise errors.ConfigError("snapshot is corrupt: its sha256 trailer does not match")
        state = json.loads(body)
        if state.get("format") != SNAPSHOT_VERSION:
            raise errors.ConfigError(f"snapshot format {state.get('format')!r} is not supported")

        def rec(r: list[Any]) -> Record:
            return Record(_unb64(r[0]), r[1], r[2], r[3], _unb64(r[4]), r[5])

        store = cls()
        store.revision = state["revision"]
        store.compact_revision = state["compact_revision"]
        for hist in state["history"]:
            for r in hist:
                store._append(rec(r))
        for rev, changes in state["changes"]:
            store._changes[rev] = tuple(
                Change(rec(c[0]), rec(c[1]) if c[1] else None) for c in changes
            )
        for lid, ttl, granted, refreshed, keys in state["leases"]:
            store.leases[lid] = Lease(lid, ttl, granted, refreshed, set(map(_unb64, keys)))
        for mid, name, urls in state.get("members", []):
            store.members[mid] = (name, tuple(urls))
        return store


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _compare_one(cmp: rpc_pb2.Compare, rec: Record | None) -> bool:
    target = cmp.target
    actual: int | bytes
    expected: int | bytes
    if target == rpc_pb2.Compare.VALUE:
        if rec is None:
            return False
        actual, expected = rec.value, cmp.value
    elif target == rpc_pb2.Compare.VERSION:
        actual, expected = (rec.version if rec else 0), cmp.version
    elif target == rpc_pb2.Compare.CREATE:
        actual, expected = (rec.create if rec else 0), cmp.create_revision
    elif target == rpc_pb2.Compare.MOD:
        actual, expected = (rec.mod if rec else 0), cmp.mod_revision
    else:
        actual, expected = (rec.lease if rec else 0), cmp.lease
    result = cmp.result
    if result == rpc_pb2.Compare.EQUAL:
        return actual == expected
    if result == rpc_pb2.Compare.NOT_EQUAL:
        return actual != expected
    if result == rpc_pb2.Compare.GREATER:
        return actual > expected  # type: ignore[operator]
    return actual < expected  # type: ignore[operator]


def _passes_filters(req: rpc_pb2.RangeRequest, rec: Record) -> bool:
    return not (
        (req.min_mod_revision and rec.mod < req.min_mod_revision)
        or (req.max_mod_revision and rec.mod > req.max_mod_revision)
        or (req.min_create_revision and rec.create < req.min_create_revision)
        or (req.max_create_revision and rec.create > req.max_create_revision)
    )


def _sort_key(target: int, rec: Record) -> tuple[Any, bytes]:
    if target == rpc_pb2.RangeRequest.VERSION:
        return (rec.version, rec.key)
    if target == rpc_pb2.RangeRequest.CREATE:
        return (rec.create, rec.key)
    if target == rpc_pb2.RangeRequest.MOD:
        return (rec.mod, rec.key)
    if target == rpc_pb2.RangeRequest.VALUE:
        return (rec.value, rec.key)
    return (rec.key, rec.key)
