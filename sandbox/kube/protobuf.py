"""Decode the Kubernetes protobuf request bodies that Helm sends.

Helm's release storage writes Secrets with
``Content-Type: application/vnd.kubernetes.protobuf`` and does not fall back
to JSON, so the emulator turns those bodies into the JSON-shaped objects the
rest of it works with. The wire format is: the magic ``k8s\\x00``, then a
``runtime.Unknown`` {typeMeta=1 {apiVersion=1, kind=2}, raw=2,
contentEncoding=3, contentType=4} whose ``raw`` is the typed message. Field
numbers follow k8s.io/api core/v1 and apimachinery meta/v1 generated.proto.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from sandbox.kube.errors import ApiError

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class ProtobufError(ApiError, ValueError):
    """The body is not a protobuf object this emulator can read (answered as a Status)."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        if unsupported:
            super().__init__(415, "UnsupportedMediaType", message)
        else:
            super().__init__(400, "BadRequest", f"unable to decode the protobuf body: {message}")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint longer than 64 bits")


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) pairs; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == _BYTES:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError(f"field {number} runs past the end of the message")
            yield number, buf[pos : pos + size]
            pos += size
        elif wire == _FIXED64:
            yield number, int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == _FIXED32:
            yield number, int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire} for field {number}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited string")
    return value.decode("utf-8")


def _raw(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def _int64(value: int | bytes) -> int:
    if isinstance(value, bytes):
        raise ProtobufError("expected a varint")
    return value - (1 << 64) if value >= 1 << 63 else value


def _map_entry(value: int | bytes) -> tuple[str, bytes]:
    key, item = "", b""
    for number, part in _fields(_raw(value)):
        if number == 1:
            key = _text(part)
        elif number == 2:
            item = _raw(part)
    return key, item


def _time(value: int | bytes) -> str:
    seconds = 0
    for number, part in _fields(_raw(value)):
        if number == 1:
            seconds = _int64(part)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_reference(value: int | bytes) -> dict:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    flags = {6: "controller", 7: "blockOwnerDeletion"}
    ref: dict = {}
    for number, part in _fields(_raw(value)):
        if number in names:
            ref[names[number]] = _text(part)
        elif number in flags:
            ref[flags[number]] = bool(part)
    return ref


def _managed_fields_entry(value: int | bytes) -> dict:
    names = {1: "manager", 2: "operation", 3: "apiVersion", 6: "fieldsType", 8: "subresource"}
    entry: dict = {}
    for number, part in _fields(_raw(value)):
        if number in names:
            entry[names[number]] = _text(part)
        elif number == 4:
            entry["time"] = _time(part)
        elif number == 7:
            raw = b"".join(_raw(p) for n, p in _fields(_raw(part)) if n == 1)
            entry["fieldsV1"] = json.loads(raw) if raw else {}
    return entry


def _object_meta(buf: bytes) -> dict:
    strings = {
        1: "name",
        2: "generateName",
        3: "namespace",
        4: "selfLink",
        5: "uid",
        6: "resourceVersion",
    }
    meta: dict = {}
    for number, value in _fields(buf):
        if number in strings:
            meta[strings[number]] = _text(value)
        elif number == 7:
            meta["generation"] = _int64(value)
        elif number == 8:
            meta["creationTimestamp"] = _time(value)
        elif number == 9:
            meta["deletionTimestamp"] = _time(value)
        elif number == 10:
            meta["deletionGracePeriodSeconds"] = _int64(value)
        elif number in (11, 12):
            key, item = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode()
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(value))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
        elif number == 17:
            meta.setdefault("managedFields", []).append(_managed_fields_entry(value))
    return meta


def _secret(buf: bytes) -> dict:
    secret: dict = {"apiVersion": "v1", "kind": "Secret", "metadata": {}}
    for number, value in _fields(buf):
        if number == 1:
            secret["metadata"] = _object_meta(_raw(value))
        elif number == 2:
            key, item = _map_entry(value)
            secret.setdefault("data", {})[key] = base64.b64encode(item).decode("ascii")
        elif number == 3:
            secret["type"] = _text(value)
        elif number == 4:
            key, item = _map_entry(value)
            secret.setdefault("stringData", {})[key] = item.decode()
        elif number == 5:
            secret["immutable"] = bool(value)
    return secret


def _delete_options(buf: bytes) -> dict:
    options: dict = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}
    for number, value in _fields(buf):
        if number == 1:
            options["gracePeriodSeconds"] = _int64(value)
        elif number == 2:
            names = {1: "uid", 2: "resourceVersion"}
            options["preconditions"] = {
                names[n]: _text(p) for n, p in _fields(_raw(value)) if n in names
            }
        elif number == 3:
            options["orphanDependents"] = bool(value)
        elif number == 4:
            options["propagationPolicy"] = _text(value)
        elif number == 5:
            options.setdefault("dryRun", []).append(_text(value))
    return options


_DECODERS: dict[str, Callable[[bytes], dict]] = {
    "Secret": _secret,
    "DeleteOptions": _delete_options,
}


def is_protobuf(content_type: str | None) -> bool:
    """Whether a request's Content-Type announces a Kubernetes protobuf body."""
    return (content_type or "").split(";")[0].strip().lower() == CONTENT_TYPE


def decode(body: bytes) -> dict:
    """Turn a ``k8s\\x00``-framed protobuf body into its JSON-shaped object.

    Raises:
        ProtobufError: not a Kubernetes protobuf envelope, malformed, or a
            kind this emulator does not decode (the message says to send JSON).
    """
    if not body.startswith(MAGIC):
        raise ProtobufError("protobuf body does not start with the k8s\\x00 magic")
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, value in _fields(body[len(MAGIC) :]):
        if number == 1:
            for part_number, part in _fields(_raw(value)):
                if part_number == 1:
                    api_version = _text(part)
                elif part_number == 2:
                    kind = _text(part)
        elif number == 2:
            raw = _raw(value)
        elif number == 3:
            encoding = _text(value)
    if encoding:
        raise ProtobufError(
            f"protobuf content encoding {encoding!r} is not supported", unsupported=True
        )
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtobufError(
            f"the sandbox decodes protobuf only for {', '.join(sorted(_DECODERS))}; "
            f"send {kind or 'this object'} ({api_version or 'unknown version'}) as JSON",
            unsupported=True,
        )
    obj = decoder(raw)
    if kind != "DeleteOptions" and api_version:
        obj["apiVersion"] = api_version
    return obj
