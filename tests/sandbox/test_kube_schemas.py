"""Schemas generated from the client's models: type validation (422) and kubectl explain."""

from __future__ import annotations

import json

import pytest
import requests
from kubernetes import client
from kubernetes.client.rest import ApiException

from sandbox.kube import schemas

BAD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: "two"
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers: [{name: c, image: "x:1", ports: [{containerPort: 80}]}]
"""


def ok(result):
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_wrong_types_are_refused_with_422(kube, kubectl, namespace, api_client):
    result = kubectl("apply", "-n", namespace, "-f", "-", stdin=BAD_DEPLOYMENT)
    assert result.returncode == 1
    assert 'The Deployment "bad" is invalid: spec.replicas: Invalid value: "string"' in (
        result.stderr
    )
    assert "must be of type integer" in result.stderr

    apps = client.AppsV1Api(api_client)
    body = {
        "metadata": {"name": "bad"},
        "spec": {
            "replicas": "two",
            "selector": {"matchLabels": {"app": "bad"}},
            "template": {
                "metadata": {"labels": {"app": "bad"}},
                "spec": {"containers": [{"name": "c", "image": "x:1"}]},
            },
        },
    }
    answer = requests.post(
        f"{kube.url}/apis/apps/v1/namespaces/{namespace}/deployments", json=body, timeout=10
    )
    assert answer.status_code == 422
    status = answer.json()
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.replicas"
    assert apps.list_namespaced_deployment(namespace).items == []

    ok(kubectl("create", "deployment", "good", "--image=x:1", "-n", namespace))
    patch = kubectl("patch", "deploy/good", "-n", namespace, "-p", '{"spec":{"replicas":"many"}}')
    assert patch.returncode == 1
    assert "must be of type integer" in patch.stderr
    assert apps.read_namespaced_deployment("good", namespace).spec.replicas == 1


def test_quantities_and_int_or_strings_keep_both_spellings(kubectl, namespace):
    manifest = """\
apiVersion: v1
kind: Pod
metadata: {name: sized}
spec:
  containers:
    - name: c
      image: x:1
      resources: {limits: {cpu: 1, memory: 64Mi}, requests: {cpu: "500m"}}
      readinessProbe: {httpGet: {path: /, port: http}}
      livenessProbe: {tcpSocket: {port: 8080}}
"""
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest))


def test_custom_resources_are_validated_against_their_crd(kubectl, namespace, api_client):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "boxes.lab.example"},
        "spec": {
            "group": "lab.example",
            "scope": "Namespaced",
            "names": {"plural": "boxes", "singular": "box", "kind": "Box"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "size": {
                                            "type": "integer",
                                            "description": "How big the box is.",
                                        }
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    ok(kubectl("apply", "-f", "-", stdin=json.dumps(crd)))
    custom = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(
            "lab.example",
            "v1",
            namespace,
            "boxes",
            {
                "apiVersion": "lab.example/v1",
                "kind": "Box",
                "metadata": {"name": "b"},
                "spec": {"size": "big"},
            },
        )
    assert info.value.status == 422
    assert "spec.size in body must be of type integer" in json.loads(info.value.body)["message"]

    explained = ok(kubectl("explain", "boxes.spec.size"))
    assert "KIND:       Box" in explained
    assert "FIELD: size <integer>" in explained
    assert "How big the box is." in explained


def test_kubectl_explain_reads_the_generated_schemas(kubectl):
    out = ok(kubectl("explain", "deployment.spec.replicas"))
    assert "GROUP:      apps" in out
    assert "KIND:       Deployment" in out
    assert "FIELD: replicas <integer>" in out
    assert "Number of desired pods." in out

    out = ok(kubectl("explain", "pod.spec.containers"))
    assert "FIELD: containers <[]Container>" in out
    assert "image\t<string>" in out
    out = ok(kubectl("explain", "poddisruptionbudgets.spec"))
    assert "minAvailable" in out


def test_openapi_v3_documents_carry_kinds_and_schemas(kube):
    index = requests.get(f"{kube.url}/openapi/v3", timeout=10).json()
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    doc = requests.get(f"{kube.url}{url}", timeout=10).json()
    deployment = doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in doc["components"]["schemas"]
    operation = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"]
    assert operation["x-kubernetes-group-version-kind"]["kind"] == "Deployment"


def test_every_served_kind_has_a_generated_schema():
    from sandbox.kube.resources import RESOURCES

    missing = [r.kind for r in RESOURCES if schemas.model_class(r) is None]
    assert missing == []


TYPO = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: typo}
data: {a: "1"}
dta: {b: "2"}
"""


def test_unknown_fields_follow_field_validation(kube, kubectl, namespace):
    strict = kubectl("apply", "-n", namespace, "-f", "-", stdin=TYPO)
    assert strict.returncode == 1
    assert (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'unknown field "dta"'
    ) in strict.stderr
    applied = kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=TYPO)
    assert applied.returncode == 1
    assert ".dta: field not declared in schema" in applied.stderr

    ok(kubectl("apply", "--validate=false", "-n", namespace, "-f", "-", stdin=TYPO))
    stored = json.loads(ok(kubectl("get", "cm", "typo", "-n", namespace, "-o", "json")))
    assert "dta" not in stored, "unknown fields are dropped, as decoding drops them"
    assert stored["data"] == {"a": "1"}

    answer = requests.post(
        f"{kube.url}/api/v1/namespaces/{namespace}/configmaps",
        json={"metadata": {"name": "warned"}, "data": {"a": "1"}, "extra": True},
        timeout=10,
    )
    assert answer.status_code == 201
    assert answer.headers["Warning"] == '299 - "unknown field \\"extra\\""'
    assert "extra" not in answer.json()
