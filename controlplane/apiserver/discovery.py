"""Discovery and OpenAPI documents, derived from the registry of kinds (pure).

kubectl reads these to map `po` to `pods`, list `api-resources`, find verbs, and decide that
the server validates fields itself (an OpenAPI v3 PATCH operation carrying `fieldValidation`).
Both discovery flavours are served: legacy (`APIVersions`, `APIGroupList`, `APIResourceList`)
and aggregated (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`), as the client's Accept asks.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubelab.api.kind import KindInfo
from kubelab.api.registry import Registry

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_KINDS = {"binding": "Binding", "eviction": "Eviction"}
SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "binding": ["create"],
    "eviction": ["create"],
    "log": ["get"],
    "exec": ["create", "get"],
    "proxy": ["create", "delete", "get", "patch", "update"],
    "finalize": ["update"],
}
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
KUBE_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0+kubelab"}


def version_info() -> dict[str, str]:
    return {
        **KUBE_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = []
    for group, kinds in registry.groups().items():
        if not group:
            continue
        versions = sorted({k.version for k in kinds})
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    kinds = [k for k in registry.kinds if k.group == group and k.version == version]
    if not kinds:
        return None
    resources: list[dict[str, Any]] = []
    for info in kinds:
        entry: dict[str, Any] = {
            "name": info.resource,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": VERBS,
            "storageVersionHash": _hash(info.api_version + info.kind)[:12],
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        for sub in info.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{info.resource}/{sub}",
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": SUBRESOURCE_KINDS.get(sub, info.kind),
                "verbs": SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def _aggregated_resource(info: KindInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.resource,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": VERBS,
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subs = []
    for sub in info.subresources:
        kind = SUBRESOURCE_KINDS.get(sub, info.kind)
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": info.group, "version": info.version, "kind": kind},
                "verbs": SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
        )
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, *, legacy: bool) -> dict[str, Any]:
    """`/api` (legacy=True: the core group) or `/apis` as an APIGroupDiscoveryList."""
    items = []
    for group, kinds in registry.groups().items():
        if (group == "") != legacy:
            continue
        versions = []
        for version in sorted({k.version for k in kinds}):
            versions.append(
                {
                    "version": version,
                    "resources": [_aggregated_resource(k) for k in kinds if k.version == version],
                    "freshness": "Current",
                }
            )
        items.append({"metadata": {"name": group}, "versions": versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _schema_name(info: KindInfo) -> str:
    group = info.group.split(".")[0] if info.group else "core"
    return f"io.k8s.api.{group}.{info.version}.{info.kind}"


def _gvk(info: KindInfo) -> dict[str, str]:
    return {"group": info.group, "version": info.version, "kind": info.kind}


QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def _op(info: KindInfo, action: str, *, body: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "description": f"{action} {info.kind}",
        "operationId": f"{action}{info.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(info),
        "parameters": [
            {"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for p in (QUERY_PARAMS if body else ("pretty",))
        ],
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{_schema_name(info)}"}
                    }
                },
            }
        },
    }
    if body:
        op["requestBody"] = {
            "content": {"*/*": {"schema": {"$ref": f"#/components/schemas/{_schema_name(info)}"}}},
            "required": True,
        }
    return op


def openapi_v3_root(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, kinds in registry.groups().items():
        for version in sorted({k.version for k in kinds}):
            path = f"apis/{group}/{version}" if group else f"api/{version}"
            doc = openapi_v3_doc(registry, group, version)
            digest = _hash(json.dumps(doc, sort_keys=True))[:32].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def openapi_v3_doc(registry: Registry, group: str, version: str) -> dict[str, Any]:
    kinds = [k for k in registry.kinds if k.group == group and k.version == version]
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for info in kinds:
        scope = f"{base}/namespaces/{{namespace}}" if info.namespaced else base
        collection = f"{scope}/{info.resource}"
        paths[collection] = {"get": _op(info, "list"), "post": _op(info, "post", body=True)}
        paths[f"{collection}/{{name}}"] = {
            "get": _op(info, "get"),
            "put": _op(info, "put", body=True),
            "patch": _op(info, "patch", body=True),
            "delete": _op(info, "delete"),
        }
        if info.has_status:
            paths[f"{collection}/{{name}}/status"] = {
                "get": _op(info, "get"),
                "put": _op(info, "put", body=True),
                "patch": _op(info, "patch", body=True),
            }
        schema = info.schema.openapi()
        schema["description"] = info.description or schema.get("description", "")
        schema["x-kubernetes-group-version-kind"] = [_gvk(info)]
        schemas[_schema_name(info)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }
