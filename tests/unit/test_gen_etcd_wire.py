"""The generated etcd messages encode exactly as etcd's v3 protocol does on the wire.

Expected bytes are written by hand from the protocol's field numbers, so a renumbered field in
proto/etcd/*.proto fails here even though the generated code would still be self-consistent.
"""

from __future__ import annotations

import pytest

from kubelab.gen.etcd import kv_pb2, rpc_pb2, rpc_pb2_grpc


def varint_field(number: int, value: int) -> bytes:
    return bytes([number << 3 | 0, value])


def bytes_field(number: int, value: bytes) -> bytes:
    return bytes([number << 3 | 2, len(value)]) + value


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            rpc_pb2.PutRequest(key=b"k", value=b"v", lease=7, prev_kv=True),
            bytes_field(1, b"k") + bytes_field(2, b"v") + varint_field(3, 7) + varint_field(4, 1),
        ),
        (
            rpc_pb2.RangeRequest(key=b"a", range_end=b"b", limit=5, keys_only=True),
            bytes_field(1, b"a") + bytes_field(2, b"b") + varint_field(3, 5) + varint_field(8, 1),
        ),
        (
            kv_pb2.KeyValue(key=b"k", create_revision=2, mod_revision=3, version=1, lease=9),
            bytes_field(1, b"k")
            + varint_field(2, 2)
            + varint_field(3, 3)
            + varint_field(4, 1)
            + varint_field(6, 9),
        ),
        (
            rpc_pb2.WatchCreateRequest(key=b"k", start_revision=4, prev_kv=True, watch_id=3),
            bytes_field(1, b"k") + varint_field(3, 4) + varint_field(6, 1) + varint_field(7, 3),
        ),
        (
            rpc_pb2.LeaseGrantRequest(TTL=10, ID=1),
            varint_field(1, 10) + varint_field(2, 1),
        ),
    ],
    ids=["put", "range", "keyvalue", "watch-create", "lease-grant"],
)
def test_wire_encoding(message: object, expected: bytes) -> None:
    assert message.SerializeToString() == expected  # type: ignore[attr-defined]


def test_compare_range_end_is_field_64() -> None:
    encoded = rpc_pb2.Compare(range_end=b"z").SerializeToString()
    # field 64, wire type 2: tag varint 0x202 -> bytes 0x82 0x04
    assert encoded == b"\x82\x04\x01z"


def test_watch_response_events_field_11() -> None:
    response = rpc_pb2.WatchResponse(events=[kv_pb2.Event(type=kv_pb2.Event.DELETE)])
    assert response.SerializeToString() == bytes_field(11, varint_field(1, 1))


def test_services_have_etcd_names() -> None:
    names = {
        rpc_pb2.DESCRIPTOR.services_by_name[s].full_name
        for s in ("KV", "Watch", "Lease", "Cluster", "Maintenance")
    }
    assert names == {
        "etcdserverpb.KV",
        "etcdserverpb.Watch",
        "etcdserverpb.Lease",
        "etcdserverpb.Cluster",
        "etcdserverpb.Maintenance",
    }
    assert hasattr(rpc_pb2_grpc, "KVStub")
