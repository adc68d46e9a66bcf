"""The protobuf decoder against bodies encoded here field by field, as client-go does."""

from __future__ import annotations

import base64

import pytest
import requests

from sandbox.kube import protobuf


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _bytes_field(number, text.encode())


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _bytes_field(number, _str(1, key) + _bytes_field(2, value))


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _str(1, api_version) + _str(2, kind)
    unknown = (
        _bytes_field(1, type_meta)
        + _bytes_field(2, raw)
        + _str(4, "application/vnd.kubernetes.protobuf")
    )
    return b"k8s\x00" + unknown


def _helm_release_secret() -> bytes:
    meta = (
        _str(1, "sh.helm.release.v1.demo.v1")
        + _str(3, "team-a")
        + _str(5, "0b6c-uid")
        + _str(6, "42")
        + _int(7, 3)
        + _bytes_field(8, _int(1, 1_700_000_000))
        + _entry(11, "name", b"demo")
        + _entry(11, "owner", b"helm")
        + _entry(11, "status", b"deployed")
        + _entry(11, "version", b"1")
        + _entry(12, "note", b"hello")
        + _str(14, "kubernetes")
        + _bytes_field(
            17,
            _str(1, "helm")
            + _str(2, "Update")
            + _str(3, "v1")
            + _str(6, "FieldsV1")
            + _bytes_field(7, _bytes_field(1, b'{"f:data":{}}')),
        )
    )
    return (
        _bytes_field(1, meta)
        + _entry(2, "release", b"\x1f\x8b binary \x00 payload")
        + _str(3, "helm.sh/release.v1")
        + _int(5, 1)
    )


def test_decodes_a_helm_release_secret_to_its_json_shape():
    obj = protobuf.decode(_envelope("v1", "Secret", _helm_release_secret()))

    assert obj["apiVersion"] == "v1"
    assert obj["kind"] == "Secret"
    assert obj["type"] == "helm.sh/release.v1"
    assert obj["immutable"] is True
    assert base64.b64decode(obj["data"]["release"]) == b"\x1f\x8b binary \x00 payload"
    meta = obj["metadata"]
    assert meta["name"] == "sh.helm.release.v1.demo.v1"
    assert meta["namespace"] == "team-a"
    assert meta["uid"] == "0b6c-uid"
    assert meta["resourceVersion"] == "42"
    assert meta["generation"] == 3
    assert meta["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert meta["labels"] == {"name": "demo", "owner": "helm", "status": "deployed", "version": "1"}
    assert meta["annotations"] == {"note": "hello"}
    assert meta["finalizers"] == ["kubernetes"]
    assert meta["managedFields"] == [
        {
            "manager": "helm",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {}},
        }
    ]


def test_string_data_and_empty_secret():
    raw = _bytes_field(1, _str(2, "gen-")) + _entry(4, "user", b"admin")
    obj = protobuf.decode(_envelope("v1", "Secret", raw))
    assert obj["metadata"] == {"generateName": "gen-"}
    assert obj["stringData"] == {"user": "admin"}
    assert "data" not in obj


def test_decodes_delete_options():
    raw = _int(1, 0) + _bytes_field(2, _str(2, "7")) + _str(4, "Background") + _str(5, "All")
    obj = protobuf.decode(_envelope("v1", "DeleteOptions", raw))
    assert obj["gracePeriodSeconds"] == 0
    assert obj["preconditions"] == {"resourceVersion": "7"}
    assert obj["propagationPolicy"] == "Background"
    assert obj["dryRun"] == ["All"]


def test_negative_int64_is_decoded_as_negative():
    raw = _int(1, -1)
    assert protobuf.decode(_envelope("v1", "DeleteOptions", raw))["gracePeriodSeconds"] == -1


def test_other_kinds_are_refused_with_a_clear_message():
    with pytest.raises(protobuf.ProtobufError, match="StatefulSet.*as JSON") as info:
        protobuf.decode(_envelope("apps/v1", "StatefulSet", b""))
    assert info.value.code == 415


def test_unknown_fields_of_known_kinds_are_refused_not_dropped():
    raw = _bytes_field(1, _str(1, "cm")) + _str(99, "surprise")
    with pytest.raises(protobuf.ProtobufError, match="field 99 of ConfigMap.*JSON") as info:
        protobuf.decode(_envelope("v1", "ConfigMap", raw))
    assert info.value.code == 415


def test_pointer_zeroes_are_values_and_plain_zeroes_are_unset():
    spec = _int(1, 0) + _int(5, 0) + _int(7, 0)  # replicas=0 (pointer), minReadySeconds, paused
    obj = protobuf.decode(_envelope("apps/v1", "Deployment", _bytes_field(2, spec)))
    assert obj["spec"] == {"replicas": 0}


def test_repeated_strings_keep_empty_elements():
    rule = _str(1, "get") + _str(2, "") + _str(3, "pods")
    obj = protobuf.decode(_envelope("rbac.authorization.k8s.io/v1", "Role", _bytes_field(2, rule)))
    assert obj["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]


def test_the_sandbox_answers_unsupported_protobuf_with_415():
    from sandbox.kube import server

    running = server.start()
    try:
        answer = requests.post(
            f"{running.url}/apis/apps/v1/namespaces/default/statefulsets",
            data=_envelope("apps/v1", "StatefulSet", _bytes_field(1, _str(1, "web"))),
            headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
            timeout=10,
        )
    finally:
        running.stop()
    assert answer.status_code == 415
    assert "as JSON" in answer.json()["message"]


@pytest.mark.parametrize(
    "body",
    [b'{"kind": "Secret"}', b"k8s\x00" + _varint(1 << 3 | 2) + _varint(50) + b"short"],
)
def test_malformed_bodies_raise_protobuf_error(body):
    with pytest.raises(protobuf.ProtobufError) as info:
        protobuf.decode(body)
    assert info.value.code == 400


def test_is_protobuf_reads_the_content_type():
    assert protobuf.is_protobuf("application/vnd.kubernetes.protobuf")
    assert protobuf.is_protobuf("application/vnd.kubernetes.protobuf; charset=utf-8")
    assert not protobuf.is_protobuf("application/json")
    assert not protobuf.is_protobuf(None)


def test_openapi_documents_served_by_the_sandbox():
    """/openapi/v2 is the hand-encoded gnostic Document; /openapi/v3 indexes real documents."""
    from sandbox.kube import server

    running = server.start()
    try:
        v2 = requests.get(
            f"{running.url}/openapi/v2",
            headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
            timeout=10,
        )
        index = requests.get(f"{running.url}/openapi/v3", timeout=10).json()["paths"]
        documents = {
            path: requests.get(running.url + entry["serverRelativeURL"], timeout=10)
            for path, entry in index.items()
        }
    finally:
        running.stop()

    assert v2.headers["Content-Type"] == "application/octet-stream"
    info = _str(1, "Kubernetes") + _str(2, "v1.30.0")
    assert v2.content == _str(1, "2.0") + _bytes_field(2, info) + _bytes_field(
        8, b""
    ) + _bytes_field(9, b"")
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1"} <= set(index)
    for path, answer in documents.items():
        assert answer.status_code == 200, path
        assert answer.json()["openapi"].startswith("3.")
