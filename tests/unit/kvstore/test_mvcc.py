"""The MVCC state machine alone: revisions, history, compaction, txn compares, leases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from controlplane.kvstore.mvcc import Applied, MvccStore
from kubelab.gen.etcd import kv_pb2, rpc_pb2


def put(key: bytes, value: bytes = b"v", **kw: object) -> Write:
    return Write(WriteKind.PUT, rpc_pb2.PutRequest(key=key, value=value, **kw).SerializeToString())  # type: ignore[arg-type]


def delete(key: bytes, range_end: bytes = b"", prev_kv: bool = False) -> Write:
    req = rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end, prev_kv=prev_kv)
    return Write(WriteKind.DELETE, req.SerializeToString())


def txn(req: rpc_pb2.TxnRequest) -> Write:
    return Write(WriteKind.TXN, req.SerializeToString())


def ok(store: MvccStore, command: Command) -> Applied:
    result = store.apply(command)
    assert result.error is None, result.error
    return result


def get(store: MvccStore, key: bytes, **kw: object) -> rpc_pb2.RangeResponse:
    return store.range(rpc_pb2.RangeRequest(key=key, **kw))  # type: ignore[arg-type]


def test_empty_store_is_at_revision_one() -> None:
    store = MvccStore()
    assert store.revision == 1
    assert get(store, b"a").kvs == []


def test_put_sets_create_mod_version_and_revision_grows_by_one() -> None:
    store = MvccStore()
    assert ok(store, put(b"a", b"1")).revision == 2
    assert ok(store, put(b"a", b"2")).revision == 3
    kv = get(store, b"a").kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version, kv.value) == (2, 3, 2, b"2")


def test_history_is_readable_at_older_revisions() -> None:
    store = MvccStore()
    ok(store, put(b"a", b"1"))
    ok(store, put(b"a", b"2"))
    ok(store, delete(b"a"))
    assert get(store, b"a", revision=2).kvs[0].value == b"1"
    assert get(store, b"a", revision=3).kvs[0].value == b"2"
    assert get(store, b"a", revision=4).kvs == []
    with pytest.raises(errors.RevisionError, match="future revision"):
        get(store, b"a", revision=5)


def test_delete_then_put_starts_a_new_generation() -> None:
    store = MvccStore()
    ok(store, put(b"a"))
    ok(store, delete(b"a"))
    ok(store, put(b"a"))
    kv = get(store, b"a").kvs[0]
    assert (kv.create_revision, kv.version) == (4, 1)


def test_delete_of_nothing_does_not_bump_the_revision() -> None:
    store = MvccStore()
    result = ok(store, delete(b"missing"))
    assert result.revision == 1
    assert result.response.deleted == 0


def test_range_prefix_limit_sort_keys_only_count_only() -> None:
    store = MvccStore()
    for k in (b"/a/1", b"/a/3", b"/a/2", b"/b/1"):
        ok(store, put(k, k + b"!"))
    resp = get(store, b"/a/", range_end=b"/a0")
    assert [kv.key for kv in resp.kvs] == [b"/a/1", b"/a/2", b"/a/3"]
    assert resp.count == 3
    limited = get(store, b"/a/", range_end=b"/a0", limit=2)
    assert (len(limited.kvs), limited.more, limited.count) == (2, True, 3)
    desc = get(store, b"/a/", range_end=b"/a0", sort_order=rpc_pb2.RangeRequest.DESCEND)
    assert [kv.key for kv in desc.kvs] == [b"/a/3", b"/a/2", b"/a/1"]
    by_mod = get(store, b"/", range_end=b"0", sort_target=rpc_pb2.RangeRequest.MOD)
    assert [kv.key for kv in by_mod.kvs] == [b"/a/1", b"/a/3", b"/a/2", b"/b/1"]
    keys = get(store, b"\x00", range_end=b"\x00", keys_only=True)
    assert all(kv.value == b"" for kv in keys.kvs)
    assert len(keys.kvs) == 4
    counted = get(store, b"/", range_end=b"0", count_only=True)
    assert (counted.count, list(counted.kvs)) == (4, [])


def test_put_prev_kv_ignore_value_and_ignore_lease() -> None:
    store = MvccStore()
    ok(store, LeaseGrant(7, 60, at=0.0))
    ok(store, put(b"k", b"old", lease=7))
    resp = ok(store, put(b"k", b"", ignore_value=True, ignore_lease=True, prev_kv=True)).response
    assert resp.prev_kv.value == b"old"
    kv = get(store, b"k").kvs[0]
    assert (kv.value, kv.lease) == (b"old", 7)
    assert store.apply(put(b"nope", b"", ignore_value=True)).error.message == (  # type: ignore[union-attr]
        "etcdserver: key not found"
    )
    assert store.apply(put(b"k", b"x", ignore_value=True)).error.message == (  # type: ignore[union-attr]
        "etcdserver: value is provided"
    )


def test_unknown_lease_and_empty_key_are_rejected_without_changing_state() -> None:
    store = MvccStore()
    before = store.dump()
    err = store.apply(put(b"k", lease=99)).error
    assert err is not None
    assert err.code == "NOT_FOUND"
    assert err.message == "etcdserver: requested lease not found"
    err = store.apply(put(b"")).error
    assert err is not None
    assert err.message == "etcdserver: key is not provided"
    assert store.dump() == before


def _cmp(key: bytes, target: str, result: str, **value: object) -> rpc_pb2.Compare:
    return rpc_pb2.Compare(
        key=key,
        target=rpc_pb2.Compare.CompareTarget.Value(target),
        result=rpc_pb2.Compare.CompareResult.Value(result),
        **value,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("compare", "expected"),
    [
        (_cmp(b"k", "VALUE", "EQUAL", value=b"v1"), True),
        (_cmp(b"k", "VALUE", "NOT_EQUAL", value=b"v1"), False),
        (_cmp(b"k", "VALUE", "GREATER", value=b"v0"), True),
        (_cmp(b"k", "VERSION", "EQUAL", version=1), True),
        (_cmp(b"k", "VERSION", "LESS", version=1), False),
        (_cmp(b"k", "CREATE", "EQUAL", create_revision=2), True),
        (_cmp(b"k", "MOD", "GREATER", mod_revision=1), True),
        (_cmp(b"k", "LEASE", "EQUAL", lease=0), True),
        (_cmp(b"absent", "VERSION", "EQUAL", version=0), True),
        (_cmp(b"absent", "CREATE", "EQUAL", create_revision=0), True),
        (_cmp(b"absent", "VALUE", "EQUAL", value=b""), False),
    ],
    ids=[
        "value-eq",
        "value-ne",
        "value-gt",
        "version-eq",
        "version-lt",
        "create-eq",
        "mod-gt",
        "lease-eq",
        "absent-version-0",
        "absent-create-0",
        "absent-value-never",
    ],
)
def test_txn_compares(compare: rpc_pb2.Compare, expected: bool) -> None:
    store = MvccStore()
    ok(store, put(b"k", b"v1"))
    req = rpc_pb2.TxnRequest(
        compare=[compare],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"out", value=b"yes"))],
        failure=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"out", value=b"no"))],
    )
    result = ok(store, txn(req))
    assert result.response.succeeded is expected
    assert get(store, b"out").kvs[0].value == (b"yes" if expected else b"no")


def test_txn_is_one_revision_and_reads_its_own_writes_and_nests() -> None:
    store = MvccStore()
    inner = rpc_pb2.TxnRequest(
        compare=[_cmp(b"a", "VERSION", "EQUAL", version=0)],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"c", value=b"3"))],
    )
    req = rpc_pb2.TxnRequest(
        success=[
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"a", value=b"1")),
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"b", value=b"2")),
            rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"a")),
            rpc_pb2.RequestOp(request_txn=inner),
        ]
    )
    result = ok(store, txn(req))
    assert result.revision == 2
    assert result.response.responses[2].response_range.kvs[0].value == b"1"
    # the nested branch was chosen against the state before the txn: "a" was absent then
    assert result.response.responses[3].response_txn.succeeded
    assert {kv.mod_revision for kv in get(store, b"a", range_end=b"d").kvs} == {2}
    assert len(result.changes) == 3


def test_txn_duplicate_put_is_rejected() -> None:
    store = MvccStore()
    op = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"a", value=b"1"))
    err = store.apply(txn(rpc_pb2.TxnRequest(success=[op, op]))).error
    assert err is not None
    assert err.message == "etcdserver: duplicate key given in txn request"
    assert store.revision == 1


def test_compaction_drops_old_history_and_reports_compacted() -> None:
    store = MvccStore()
    ok(store, put(b"a", b"1"))  # 2
    ok(store, put(b"a", b"2"))  # 3
    ok(store, put(b"b", b"1"))  # 4
    ok(store, delete(b"b"))  # 5
    ok(store, Compact(4))
    assert store.compact_revision == 4
    assert get(store, b"a", revision=4).kvs[0].value == b"2"
    with pytest.raises(errors.RevisionError, match="compacted"):
        get(store, b"a", revision=3)
    with pytest.raises(errors.RevisionError, match="compacted"):
        store.changes_since(3, b"a", b"")
    assert [c.record.mod for c in store.changes_since(4, b"\x00", b"\x00")] == [4, 5]
    again = store.apply(Compact(4)).error
    assert again is not None
    assert again.code == "OUT_OF_RANGE"
    ok(store, Compact(5))
    assert get(store, b"b", range_end=b"c").kvs == []


def test_watch_changes_carry_prev_records_in_revision_order() -> None:
    store = MvccStore()
    ok(store, put(b"k", b"1"))
    ok(store, put(b"other"))
    ok(store, put(b"k", b"2"))
    ok(store, delete(b"k"))
    changes = store.changes_since(2, b"k", b"")
    assert [(c.record.mod, c.record.tombstone) for c in changes] == [
        (2, False),
        (4, False),
        (5, True),
    ]
    event = changes[2].to_event(prev_kv=True)
    assert event.type == kv_pb2.Event.DELETE
    assert event.prev_kv.value == b"2"


def test_lease_revoke_deletes_attached_keys_in_one_revision() -> None:
    store = MvccStore()
    ok(store, LeaseGrant(5, 10, at=100.0))
    ok(store, put(b"x", lease=5))
    ok(store, put(b"y", lease=5))
    ok(store, put(b"z"))
    result = ok(store, LeaseRevoke(5))
    assert result.revision == 5
    assert len(result.changes) == 2
    assert [kv.key for kv in get(store, b"\x00", range_end=b"\x00").kvs] == [b"z"]
    err = store.apply(LeaseRevoke(5)).error
    assert err is not None
    assert err.code == "NOT_FOUND"


def test_lease_expiry_respects_a_later_keepalive() -> None:
    store = MvccStore()
    ok(store, LeaseGrant(5, 10, at=100.0))
    ok(store, put(b"x", lease=5))
    ok(store, LeaseKeepAlive(5, at=105.0))
    assert ok(store, LeaseExpire(5, at=111.0)).changes == ()  # deadline is 115 now
    assert 5 in store.leases
    expired = ok(store, LeaseExpire(5, at=115.0))
    assert [c.record.key for c in expired.changes] == [b"x"]
    assert 5 not in store.leases


def test_lease_grant_errors() -> None:
    store = MvccStore()
    ok(store, LeaseGrant(5, 10, at=0.0))
    err = store.apply(LeaseGrant(5, 10, at=0.0)).error
    assert err is not None
    assert err.message == "etcdserver: lease already exists"
    err = store.apply(LeaseGrant(6, 10**10, at=0.0)).error
    assert err is not None
    assert err.message == "etcdserver: too large lease TTL"


def test_overwriting_a_key_moves_it_to_the_new_lease() -> None:
    store = MvccStore()
    ok(store, LeaseGrant(1, 10, at=0.0))
    ok(store, LeaseGrant(2, 10, at=0.0))
    ok(store, put(b"k", lease=1))
    ok(store, put(b"k", lease=2))
    ok(store, LeaseRevoke(1))
    assert get(store, b"k").kvs[0].lease == 2


def test_dump_load_round_trip_and_corruption_detected() -> None:
    store = MvccStore()
    ok(store, PublishMember(7, "n1", ("http://127.0.0.1:2379",)))
    ok(store, LeaseGrant(1, 10, at=3.5))
    ok(store, put(b"k\xff", b"\x00bin", lease=1))
    ok(store, put(b"j"))
    blob = store.dump()
    assert MvccStore.load(blob).dump() == blob
    assert MvccStore.load(blob).members == {7: ("n1", ("http://127.0.0.1:2379",))}
    with pytest.raises(errors.ConfigError, match="corrupt"):
        MvccStore.load(blob.replace(b"revision", b"revisioN"))


def test_hash_kv_at_a_revision_ignores_later_writes() -> None:
    one, two = MvccStore(), MvccStore()
    for store in (one, two):
        ok(store, put(b"a", b"1"))
        ok(store, put(b"b", b"2"))
    ok(two, put(b"c", b"3"))
    assert one.hash_kv(3) == two.hash_kv(3)
    assert one.hash_kv() != two.hash_kv()
    ok(one, put(b"a", b"x"))
    assert one.hash_kv(4) != two.hash_kv(4)
    with pytest.raises(errors.RevisionError, match="future"):
        one.hash_kv(99)


# ---------------------------------------------------------------- properties

KEYS = st.sampled_from([b"a", b"b", b"c", b"d"])
COMMANDS = st.one_of(
    st.builds(put, KEYS, st.binary(max_size=3)),
    st.builds(lambda k, lid: put(k, b"l", lease=lid), KEYS, st.sampled_from([1, 2])),
    st.builds(delete, KEYS),
    st.builds(lambda k: delete(k, b"\x00"), KEYS),
    st.builds(Compact, st.integers(1, 30)),
    st.builds(lambda lid, at: LeaseGrant(lid, 5, at), st.sampled_from([1, 2]), st.integers(0, 20)),
    st.builds(LeaseRevoke, st.sampled_from([1, 2])),
    st.builds(LeaseExpire, st.sampled_from([1, 2]), st.integers(0, 40)),
    st.builds(
        lambda k, v: txn(
            rpc_pb2.TxnRequest(
                compare=[_cmp(k, "VALUE", "EQUAL", value=v)],
                success=[rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=k))],
                failure=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=v))],
            )
        ),
        KEYS,
        st.binary(max_size=2),
    ),
    st.builds(lambda n: PublishMember(n, f"n{n}", (f"http://127.0.0.1:{n}",)), st.integers(1, 3)),
    st.just(Barrier()),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(COMMANDS, max_size=40))
def test_same_commands_give_the_same_state(commands: list[Command]) -> None:
    one, two = MvccStore(), MvccStore()
    results_one = [one.apply(c) for c in commands]
    results_two = [two.apply(c) for c in commands]
    assert one.dump() == two.dump()
    assert [(r.revision, r.error and r.error.message) for r in results_one] == [
        (r.revision, r.error and r.error.message) for r in results_two
    ]
    assert MvccStore.load(one.dump()).dump() == one.dump()


@settings(max_examples=60, deadline=None)
@given(st.lists(COMMANDS, max_size=40))
def test_revisions_only_grow_and_mod_revisions_match(commands: list[Command]) -> None:
    store = MvccStore()
    last = store.revision
    for command in commands:
        result = store.apply(command)
        assert result.revision >= last
        assert result.revision - last <= 1
        if result.changes:
            assert result.revision == last + 1
            assert all(c.record.mod == result.revision for c in result.changes)
        last = result.revision
        live = store.range(rpc_pb2.RangeRequest(key=b"\x00", range_end=b"\x00"))
        assert all(kv.mod_revision <= store.revision for kv in live.kvs)
        assert all(kv.create_revision <= kv.mod_revision for kv in live.kvs)
