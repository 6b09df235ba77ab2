"""Decode the Kubernetes protobuf request bodies kubectl's typed clients send.

`kubectl create namespace|configmap|secret|serviceaccount` POST their object as
`application/vnd.kubernetes.protobuf`: the magic `k8s\\0`, then a `runtime.Unknown` envelope
(typeMeta = 1, raw = 2) whose raw bytes are the typed object. This module reads the protobuf wire
format by hand for the few kinds those commands create and turns them into the JSON-shaped dict
the handlers take; any other kind is refused with 415 so the client can send JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from kubelab.api.errors import UnsupportedMediaType

MAGIC = b"k8s\x00"
Field = tuple[int, int, Any]  # field number, wire type, value (int or bytes)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[Field]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire == 1:
            yield number, wire, data[pos : pos + 8]
            pos += 8
        elif wire == 5:
            yield number, wire, data[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _map_entry(data: bytes, binary: bool) -> tuple[str, str]:
    key, value = "", b""
    for number, _, raw in fields(data):
        if number == 1:
            key = raw.decode()
        elif number == 2:
            value = raw
    return key, base64.b64encode(value).decode() if binary else value.decode()


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for number, _, raw in fields(data):
        if number in names:
            meta[names[number]] = raw.decode()
        elif number in (11, 12):
            k, v = _map_entry(raw, False)
            meta.setdefault("labels" if number == 11 else "annotations", {})[k] = v
        elif number == 14:
            meta.setdefault("finalizers", []).append(raw.decode())
    return meta


def _name_ref(data: bytes) -> dict[str, Any]:
    return {"name": next((r.decode() for n, _, r in fields(data) if n in (1, 3)), "")}


def _namespace(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 2:
            obj["spec"] = {"finalizers": [r.decode() for n, _, r in fields(raw) if n == 1]}
    return obj


def _configmap(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number in (2, 3):
            k, v = _map_entry(raw, number == 3)
            obj.setdefault("data" if number == 2 else "binaryData", {})[k] = v
        elif number == 4:
            obj["immutable"] = bool(raw)
    return obj


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number in (2, 4):
            k, v = _map_entry(raw, number == 2)
            obj.setdefault("data" if number == 2 else "stringData", {})[k] = v
        elif number == 3:
            obj["type"] = raw.decode()
        elif number == 5:
            obj["immutable"] = bool(raw)
    return obj


def _service_account(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number in (2, 3):
            key = "secrets" if number == 2 else "imagePullSecrets"
            obj.setdefault(key, []).append(_name_ref(raw))
        elif number == 4:
            obj["automountServiceAccountToken"] = bool(raw)
    return obj


DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "Secret"): _secret,
    ("v1", "ServiceAccount"): _service_account,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON-shaped object in a Kubernetes protobuf body; 415 for kinds not decoded here."""
    if not body.startswith(MAGIC):
        raise UnsupportedMediaType("protobuf body without the k8s magic prefix")
    api_version, kind, raw = "", "", b""
    try:
        for number, _, value in fields(body[len(MAGIC) :]):
            if number == 1:
                for n, _, v in fields(value):
                    if n == 1:
                        api_version = v.decode()
                    elif n == 2:
                        kind = v.decode()
            elif number == 2:
                raw = value
        decoder = DECODERS.get((api_version, kind))
        if decoder is None:
            raise UnsupportedMediaType(
                f"protobuf bodies of {api_version}/{kind} are not supported; send JSON"
            )
        obj = decoder(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnsupportedMediaType(f"malformed protobuf body: {exc}") from exc
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
