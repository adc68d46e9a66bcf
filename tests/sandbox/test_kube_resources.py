"""Imperative kubectl commands (protobuf bodies), RBAC/PDB/CRDs and custom resources."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

CREATES = [
    ("namespace", ["create", "namespace", "{ns}-extra"], "namespace", "{ns}-extra"),
    (
        "deployment",
        ["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"],
        "deployment",
        "web",
    ),
    ("configmap", ["create", "configmap", "cfg", "--from-literal=a=b"], "configmap", "cfg"),
    ("secret", ["create", "secret", "generic", "pw", "--from-literal=p=s3"], "secret", "pw"),
    (
        "service",
        ["create", "service", "nodeport", "web", "--tcp=80:8080"],
        "service",
        "web",
    ),
    ("serviceaccount", ["create", "serviceaccount", "robot"], "serviceaccount", "robot"),
    ("job", ["create", "job", "once", "--image=busybox", "--", "echo", "hi"], "job", "once"),
    (
        "cronjob",
        ["create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"],
        "cronjob",
        "tick",
    ),
    ("role", ["create", "role", "reader", "--verb=get,list", "--resource=pods"], "role", "reader"),
    (
        "rolebinding",
        ["create", "rolebinding", "reader", "--role=reader", "--serviceaccount={ns}:robot"],
        "rolebinding",
        "reader",
    ),
    (
        "clusterrole",
        ["create", "clusterrole", "{ns}-viewer", "--verb=get", "--resource=deployments.apps"],
        "clusterrole",
        "{ns}-viewer",
    ),
    (
        "clusterrolebinding",
        ["create", "clusterrolebinding", "{ns}-viewer", "--clusterrole={ns}-viewer", "--user=bob"],
        "clusterrolebinding",
        "{ns}-viewer",
    ),
    (
        "pdb",
        ["create", "pdb", "web", "--selector=app=web", "--min-available=0"],
        "pdb",
        "web",
    ),
    ("quota", ["create", "quota", "small", "--hard=pods=4,cpu=2"], "quota", "small"),
    (
        "ingress",
        ["create", "ingress", "web", "--rule=shop.example/api*=web:80"],
        "ingress",
        "web",
    ),
    (
        "autoscale",
        ["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=60"],
        "horizontalpodautoscalers.v1.autoscaling",
        "web",
    ),
    ("expose", ["expose", "deployment", "web", "--port=80", "--name=front"], "service", "front"),
]


def ok(result):
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def contained(expected, actual, path="") -> list[str]:
    """Where ``expected`` (kubectl's client-side object) is not part of ``actual``."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        problems = []
        for key, value in expected.items():
            if value is None or key == "status":
                continue
            if key not in actual and value in ({}, []):
                continue
            problems += contained(value, actual.get(key), f"{path}.{key}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in contained(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {actual!r} != {expected!r}"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("what", "args", "kind", "name"), CREATES, ids=[c[0] for c in CREATES])
def test_imperative_create_stores_what_kubectl_built(kubectl, namespace, what, args, kind, name):
    args = [a.replace("{ns}", namespace) for a in args]
    name = name.replace("{ns}", namespace)
    if what in ("autoscale", "expose"):
        ok(kubectl("create", "deployment", "web", "--image=nginx:1", "-n", namespace))
    cut = args.index("--") if "--" in args else len(args)
    flags, command = args[:cut], args[cut:]
    built = json.loads(
        ok(kubectl(*flags, "-n", namespace, "--dry-run=client", "-o", "json", *command))
    )

    out = ok(kubectl(*flags, "-n", namespace, *command))
    assert "created" in out or "autoscaled" in out or "exposed" in out

    stored = json.loads(ok(kubectl("get", kind, name, "-n", namespace, "-o", "json")))
    assert contained(built, stored) == []


def test_imperative_objects_read_back_through_the_typed_client(kubectl, namespace, api_client):
    ok(kubectl("create", "deployment", "api", "--image=nginx:1", "--replicas=3", "-n", namespace))
    ok(
        kubectl(
            "create", "pdb", "api", "--selector=app=api", "--max-unavailable=25%", "-n", namespace
        )
    )
    ok(kubectl("create", "service", "clusterip", "api", "--tcp=80:8080", "-n", namespace))

    deploy = client.AppsV1Api(api_client).read_namespaced_deployment("api", namespace)
    assert deploy.spec.replicas == 3
    assert deploy.spec.template.spec.containers[0].image == "nginx:1"
    pdb = client.PolicyV1Api(api_client).read_namespaced_pod_disruption_budget("api", namespace)
    assert pdb.spec.max_unavailable == "25%"
    assert pdb.spec.selector.match_labels == {"app": "api"}
    svc = client.CoreV1Api(api_client).read_namespaced_service("api", namespace)
    assert (svc.spec.ports[0].port, svc.spec.ports[0].target_port) == (80, 8080)


def test_auth_can_i_answers_yes(kubectl, namespace):
    result = kubectl("auth", "can-i", "delete", "pods", "-n", namespace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "yes"
    listed = ok(kubectl("auth", "can-i", "--list", "-n", namespace))
    assert "*.*" in listed
