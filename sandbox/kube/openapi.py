"""The ``/openapi/v2`` and ``/openapi/v3`` documents the sandbox serves.

Helm's engine and kubectl fetch these before they apply objects. They are
deliberately minimal: no schemas, so clients skip client-side validation and
fall back to the patch strategies they know from their own type registry.
``/openapi/v2`` is asked for as protobuf only, so it is a hand-encoded gnostic
``openapi_v2.Document`` (swagger=1, info=2 {title=1, version=2}, paths=8,
definitions=9) served as ``application/octet-stream``: a content type with
``@`` in it breaks the Go client's MIME parsing.
"""

from __future__ import annotations

import hashlib
import json

from sandbox.kube import resources

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
    doc = {"swagger": "2.0", "info": {"title": TITLE, "version": VERSION}, "paths": {}}
    doc["definitions"] = {}
    return json.dumps(doc).encode()


def _group_version_paths() -> list[str]:
    """``api/v1`` and ``apis/<group>/<version>`` for everything the sandbox serves."""
    paths = []
    for group, versions in resources.group_versions().items():
        for version in versions:
            paths.append(f"apis/{group}/{version}" if group else f"api/{version}")
    return paths


def group_version_document(path: str) -> bytes:
    """A valid, schema-less OpenAPI 3 document for one group/version."""
    doc = {
        "openapi": "3.0.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": {},
        "components": {"schemas": {}},
    }
    return json.dumps(doc).encode()


def _hash(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest().upper()


def v3_index() -> bytes:
    """The ``/openapi/v3`` discovery: each group/version and where its document is."""
    paths = {}
    for path in _group_version_paths():
        url = f"{PREFIX_V3}/{path}?hash={_hash(group_version_document(path))}"
        paths[path] = {"serverRelativeURL": url}
    return json.dumps({"paths": paths}).encode()


def handle(path: str, query: dict, accept: str) -> Response | None:
    """Answer an ``/openapi/...`` GET as (status, content type, body); None if not ours."""
    if path.rstrip("/") == "/openapi/v2":
        if "protobuf" in (accept or ""):
            return 200, "application/octet-stream", swagger_v2_protobuf()
        return 200, "application/json", swagger_v2_json()
    if path.rstrip("/") == PREFIX_V3:
        return 200, "application/json", v3_index()
    if path.startswith(PREFIX_V3 + "/"):
        group_version = path[len(PREFIX_V3) + 1 :].strip("/")
        if group_version not in _group_version_paths():
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"no OpenAPI document for {group_version}",
                "reason": "NotFound",
                "code": 404,
            }
            return 404, "application/json", json.dumps(body).encode()
        return 200, "application/json", group_version_document(group_version)
    return None
