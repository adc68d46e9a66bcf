"""The ``/openapi/v2`` and ``/openapi/v3`` documents the sandbox serves.

Helm's engine and kubectl fetch these before they apply objects. The v3
documents carry the schemas of the served kinds (generated from the client's
models by :mod:`sandbox.kube.schemas`; custom kinds from their CRDs), which is
what ``kubectl explain`` reads; their ``paths`` hold one GET per resource tagged
with its kind (how explain maps a resource to its schema). ``/openapi/v2`` as JSON has the same
definitions; as protobuf (what Helm and kubectl's client-side validation ask
for) it stays minimal, so they skip client-side validation and the server's
own type validation answers instead. That protobuf is a hand-encoded gnostic
``openapi_v2.Document`` (swagger=1, info=2 {title=1, version=2}, paths=8,
definitions=9) served as ``application/octet-stream``: a content type with
``@`` in it breaks the Go client's MIME parsing.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Sequence

from sandbox.kube import resources, schemas
from sandbox.kube.resources import Resource

TITLE = "Kubernetes"
VERSION = "v1.30.0"
PREFIX_V3 = "/openapi/v3"

Response = tuple[int, str, bytes]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here stay under 128 bytes)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def swagger_v2_protobuf() -> bytes:
    """The minimal gnostic ``Document``: swagger "2.0", info, empty paths and definitions."""
    info = _field(1, TITLE.encode()) + _field(2, VERSION.encode())
    return _field(1, b"2.0") + _field(2, info) + _field(8, b"") + _field(9, b"")


def swagger_v2_json() -> bytes:
    """The v2 document as JSON, with every generated definition."""
    doc = {"swagger": "2.0", "info": {"title": TITLE, "version": VERSION}, "paths": {}}
    doc["definitions"] = schemas.as_swagger_v2(schemas.definitions())
    return json.dumps(doc).encode()


def _group_version_paths(custom: Sequence[Resource] = ()) -> list[str]:
    """``api/v1`` and ``apis/<group>/<version>`` for everything the sandbox serves."""
    paths = []
    for group, versions in resources.group_versions(custom).items():
        for version in versions:
            paths.append(f"apis/{group}/{version}" if group else f"api/{version}")
    return paths


def _split(path: str) -> tuple[str, str]:
    parts = path.split("/")
    return ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])


def custom_schema_name(res: Resource) -> str:
    """``com.example.v1.Widget`` for ``example.com/v1 Widget``, as the API server names them."""
    return ".".join([*reversed(res.group.split(".")), res.version, res.kind])


def _custom_schemas(group: str, version: str, crds: Sequence[dict]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for crd in crds:
        for res in resources.custom_resources(crd):
            if (res.group, res.version) != (group, version):
                continue
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            for served in (crd.get("spec") or {}).get("versions") or []:
                if served.get("name") == version:
                    schema = copy.deepcopy(
                        (served.get("schema") or {}).get("openAPIV3Schema") or schema
                    )
            properties = schema.setdefault("properties", {})
            properties.setdefault("apiVersion", {"type": "string"})
            properties.setdefault("kind", {"type": "string"})
            properties["metadata"] = {
                "allOf": [{"$ref": f"{schemas.REF_PREFIX}{_OBJECT_META}"}],
                "description": "Standard object's metadata.",
            }
            schema["x-kubernetes-group-version-kind"] = [
                {"group": group, "kind": res.kind, "version": version}
            ]
            found[custom_schema_name(res)] = schema
    if found:
        found.update(_meta_schemas())
    return found


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _meta_schemas() -> dict[str, dict]:
    """ObjectMeta and what it references (for custom resources' documents)."""
    defs = schemas.definitions()
    wanted, pending = {}, [_OBJECT_META]
    while pending:
        name = pending.pop()
        if name in wanted or name not in defs:
            continue
        wanted[name] = defs[name]
        pending += list(schemas._refs(defs[name]))  # noqa: SLF001
    return wanted


def _paths(served: Sequence[Resource]) -> dict[str, dict]:
    """A GET operation per resource path, tagged with its group/version/kind: how
    ``kubectl explain`` finds the kind of a resource."""
    paths = {}
    for res in served:
        if not res.stored:
            continue
        prefix = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
        path = (
            f"{prefix}/namespaces/{{namespace}}/{res.plural}"
            if res.namespaced
            else f"{prefix}/{res.plural}"
        )
        gvk = {"group": res.group, "kind": res.kind, "version": res.version}
        paths[path] = {
            "get": {
                "operationId": f"list{res.kind}",
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}},
            }
        }
    return paths


@functools.cache
def _builtin_document(group: str, version: str) -> bytes:
    served = [r for r in resources.RESOURCES if (r.group, r.version) == (group, version)]
    return _document(schemas.group_version_schemas(group, version), _paths(served))


def _document(components: dict[str, dict], paths: dict[str, dict]) -> bytes:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": paths,
        "components": {"schemas": components},
    }
    return json.dumps(doc).encode()


def group_version_document(path: str, crds: Sequence[dict] = ()) -> bytes:
    """The OpenAPI 3 document for one group/version: schemas of its kinds (generated from
    the client's models; custom kinds from their CRDs' ``openAPIV3Schema``)."""
    group, version = _split(path)
    custom = _custom_schemas(group, version, crds)
    if not custom:
        return _builtin_document(group, version)
    served = [
        r
        for r in (*resources.RESOURCES, *(r for c in crds for r in resources.custom_resources(c)))
        if (r.group, r.version) == (group, version)
    ]
    components = {**schemas.group_version_schemas(group, version), **custom}
    return _document(components, _paths(served))


def _hash(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest().upper()


def v3_index(crds: Sequence[dict] = ()) -> bytes:
    """The ``/openapi/v3`` discovery: each group/version and where its document is."""
    custom = [r for crd in crds for r in resources.custom_resources(crd)]
    paths = {}
    for path in _group_version_paths(custom):
        url = f"{PREFIX_V3}/{path}?hash={_hash(group_version_document(path, crds))}"
        paths[path] = {"serverRelativeURL": url}
    return json.dumps({"paths": paths}).encode()


def handle(path: str, query: dict, accept: str, crds: Sequence[dict] = ()) -> Response | None:
    """Answer an ``/openapi/...`` GET as (status, content type, body); None if not ours."""
    if path.rstrip("/") == "/openapi/v2":
        if "protobuf" in (accept or ""):
            return 200, "application/octet-stream", swagger_v2_protobuf()
        return 200, "application/json", swagger_v2_json()
    if path.rstrip("/") == PREFIX_V3:
        return 200, "application/json", v3_index(crds)
    if path.startswith(PREFIX_V3 + "/"):
        group_version = path[len(PREFIX_V3) + 1 :].strip("/")
        custom = [r for crd in crds for r in resources.custom_resources(crd)]
        if group_version not in _group_version_paths(custom):
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"no OpenAPI document for {group_version}",
                "reason": "NotFound",
                "code": 404,
            }
            return 404, "application/json", json.dumps(body).encode()
        return 200, "application/json", group_version_document(group_version, crds)
    return None
