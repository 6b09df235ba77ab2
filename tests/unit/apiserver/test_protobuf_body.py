from __future__ import annotations

import pytest

from controlplane.apiserver.protobuf_body import MAGIC, decode
from kubelab.api.errors import UnsupportedMediaType


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def entry(key: str, value: bytes) -> bytes:
    return field(1, key.encode()) + field(2, value)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version.encode()) + field(2, kind.encode())
    return MAGIC + field(1, type_meta) + field(2, raw)


def test_configmap_from_kubectl_create_configmap() -> None:
    meta = field(1, b"settings") + field(3, b"team-a") + field(11, entry("app", b"web"))
    raw = field(1, meta) + field(2, entry("mode", b"fast")) + field(3, entry("bin", b"\x00\x01"))
    obj = decode(envelope("v1", "ConfigMap", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "team-a", "labels": {"app": "web"}},
        "data": {"mode": "fast"},
        "binaryData": {"bin": "AAE="},
    }


def test_secret_data_is_base64_and_namespace_spec() -> None:
    raw = field(1, field(1, b"s")) + field(2, entry("user", b"admin")) + field(3, b"Opaque")
    assert decode(envelope("v1", "Secret", raw))["data"] == {"user": "YWRtaW4="}
    ns = decode(envelope("v1", "Namespace", field(1, field(1, b"dev"))))
    assert ns["metadata"] == {"name": "dev"}


def test_other_kinds_and_garbage_are_415() -> None:
    with pytest.raises(UnsupportedMediaType, match="v1/Pod"):
        decode(envelope("v1", "Pod", b""))
    with pytest.raises(UnsupportedMediaType):
        decode(b"not protobuf")
    with pytest.raises(UnsupportedMediaType):
        decode(MAGIC + b"\x0a\xff")
