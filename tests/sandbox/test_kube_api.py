"""The REST API through the official kubernetes client and plain HTTP."""

from __future__ import annotations

import json
import threading

import pytest
import requests
import yaml
from kubernetes import client, watch

from sandbox.kube import server
from sandbox.kube.config import SandboxConfig

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


def deployment(name: str, image: str = "example.org/app:1", replicas: int = 1) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def test_version_health_and_discovery(kube):
    assert requests.get(f"{kube.url}/healthz", timeout=5).text == "ok"
    assert requests.get(f"{kube.url}/version", timeout=5).json()["major"] == "1"
    answer = requests.get(f"{kube.url}/apis", headers={"Accept": AGGREGATED}, timeout=5)
    assert answer.headers["Content-Type"] == "application/json"
    groups = {g["name"] for g in answer.json()["groups"]}
    assert {"apps", "batch"} <= groups
    core = requests.get(f"{kube.url}/api/v1", timeout=5).json()
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["namespaced"] is True
    assert by_name["namespaces"]["namespaced"] is False
    assert "pods/log" in by_name
    apps = requests.get(f"{kube.url}/apis/apps/v1", timeout=5).json()
    assert {"deployments", "deployments/scale", "deployments/status"} <= {
        r["name"] for r in apps["resources"]
    }
    missing = requests.get(f"{kube.url}/apis/nope.example.com/v1", timeout=5)
    assert missing.status_code == 404 and missing.json()["kind"] == "Status"


def test_stale_resource_version_put_gets_409(core, namespace):
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    first, second = (core.read_namespaced_config_map("settings", namespace) for _ in range(2))
    first.data["a"] = "first"
    core.replace_namespaced_config_map("settings", namespace, first)
    second.data["a"] = "second"
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_config_map("settings", namespace, second)
    assert caught.value.status == 409
    body = json.loads(caught.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    stored = core.read_namespaced_config_map("settings", namespace)
    assert stored.data == {"a": "first"}
    assert int(stored.metadata.resource_version) > int(created.metadata.resource_version)


def test_concurrent_writers_one_wins(core, namespace):
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "token"}, "string_data": {"v": "0"}}
    )
    base = core.read_namespaced_secret("token", namespace)
    results = []
    barrier = threading.Barrier(2)

    def write(value: str) -> None:
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="token", resource_version=base.metadata.resource_version
            ),
            string_data={"v": value},
        )
        barrier.wait()
        try:
            core.replace_namespaced_secret("token", namespace, body)
            results.append(200)
        except client.ApiException as exc:
            results.append(exc.status)

    threads = [threading.Thread(target=write, args=(v,)) for v in ("1", "2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409]


def test_missing_namespace_and_object_answer_not_found_status(core, apps):
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    body = json.loads(caught.value.body)
    assert caught.value.status == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'namespaces "no-such-ns" not found',
        "reason": "NotFound",
        "details": {"name": "no-such-ns", "kind": "namespaces"},
        "code": 404,
    }
    with pytest.raises(client.ApiException) as caught:
        apps.read_namespaced_deployment("ghost", "default")
    assert json.loads(caught.value.body)["message"] == 'deployments.apps "ghost" not found'
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    assert caught.value.status == 422


def test_label_and_field_selectors(core, namespace):
    for name, labels in [
        ("a", {"tier": "web", "env": "dev"}),
        ("b", {"tier": "db"}),
        ("c", {"env": "prod"}),
    ]:
        core.create_namespaced_secret(namespace, {"metadata": {"name": name, "labels": labels}})

    def names(**kwargs) -> list[str]:
        listed = core.list_namespaced_secret(namespace, **kwargs)
        assert listed.kind == "SecretList" and listed.metadata.resource_version
        return sorted(s.metadata.name for s in listed.items)

    assert names(label_selector="tier=web") == ["a"]
    assert names(label_selector="tier==db") == ["b"]
    assert names(label_selector="tier!=web") == ["b", "c"]
    assert names(label_selector="tier in (web,db)") == ["a", "b"]
    assert names(label_selector="tier notin (web)") == ["b", "c"]
    assert names(label_selector="env") == ["a", "c"]
    assert names(label_selector="!env") == ["b"]
    assert names(label_selector="tier,env=dev") == ["a"]
    assert names(field_selector="metadata.name=c") == ["c"]
    assert names(field_selector="metadata.name!=c") == ["a", "b"]
    everywhere = core.list_secret_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace}"
    )
    assert sorted(s.metadata.name for s in everywhere.items) == ["a", "b", "c"]


def test_patch_types(apps, namespace, kube):
    apps.create_namespaced_deployment(namespace, deployment("api"))
    # strategic merge (the client's default for dicts): containers merge by name
    apps.patch_namespaced_deployment(
        "api",
        namespace,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "sidecar", "image": "example.org/proxy:1"}]}
                }
            }
        },
    )
    containers = apps.read_namespaced_deployment("api", namespace).spec.template.spec.containers
    assert [c.name for c in containers] == ["app", "sidecar"]
    # JSON patch (RFC 6902)
    apps.patch_namespaced_deployment(
        "api",
        namespace,
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "example.org/app:2",
            },
            {"op": "remove", "path": "/spec/template/spec/containers/1"},
            {"op": "add", "path": "/metadata/labels/team", "value": "core"},
        ],
    )
    patched = apps.read_namespaced_deployment("api", namespace)
    assert [c.image for c in patched.spec.template.spec.containers] == ["example.org/app:2"]
    assert patched.metadata.labels == {"app": "api", "team": "core"}
    assert patched.metadata.generation == 3
    # merge patch (RFC 7386): lists replace, null deletes
    answer = requests.patch(
        f"{kube.url}/apis/apps/v1/namespaces/{namespace}/deployments/api",
        timeout=5,
        headers={"Content-Type": "application/merge-patch+json"},
        data=json.dumps({"metadata": {"labels": {"team": None}}}),
    )
    assert answer.status_code == 200
    assert apps.read_namespaced_deployment("api", namespace).metadata.labels == {"app": "api"}
    # a patch naming a stale resourceVersion conflicts
    with pytest.raises(client.ApiException) as caught:
        apps.patch_namespaced_deployment("api", namespace, {"metadata": {"resourceVersion": "1"}})
    assert caught.value.status == 409


def test_server_side_apply_creates_and_tracks_managers(apps, namespace, kube):
    url = f"{kube.url}/apis/apps/v1/namespaces/{namespace}/deployments/svc"
    body = {"apiVersion": "apps/v1", "kind": "Deployment", **deployment("svc", replicas=2)}

    def apply(doc: dict, manager: str, force: bool = False) -> requests.Response:
        return requests.patch(
            url,
            params={"fieldManager": manager, "force": str(force).lower()},
            timeout=5,
            headers={"Content-Type": "application/apply-patch+yaml"},
            data=yaml.safe_dump(doc),
        )

    answer = apply(body, "helm")
    data = answer.json()
    assert answer.status_code == 201 and data["metadata"]["generation"] == 1
    assert data["metadata"]["managedFields"][0]["manager"] == "helm"
    assert "f:replicas" in data["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    other = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "svc"},
        "spec": {"replicas": 5},
    }
    refused = apply(other, "ops")
    assert refused.status_code == 409 and 'conflict with "helm"' in refused.json()["message"]
    assert apps.read_namespaced_deployment("svc", namespace).spec.replicas == 2
    answer = apply(other, "ops", force=True)
    data = answer.json()
    assert answer.status_code == 200 and data["spec"]["replicas"] == 5
    assert {m["manager"] for m in data["metadata"]["managedFields"]} == {"helm", "ops"}


def test_status_and_scale_subresources(apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment("scaled"))
    scale = apps.patch_namespaced_deployment_scale("scaled", namespace, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    assert apps.read_namespaced_deployment_scale("scaled", namespace).spec.replicas == 3
    # the main resource ignores status; the status subresource ignores spec
    for _ in range(20):  # the controller writes status too: retry on 409, as clients do
        current = apps.read_namespaced_deployment("scaled", namespace)
        current.spec.replicas = 4
        current.status.replicas = 99
        try:
            updated = apps.replace_namespaced_deployment("scaled", namespace, current)
            break
        except client.ApiException as exc:
            assert exc.status == 409
    assert updated.spec.replicas == 4 and updated.status.replicas != 99
    status = apps.patch_namespaced_deployment_status(
        "scaled", namespace, {"status": {"collisionCount": 7}, "spec": {"replicas": 1}}
    )
    assert status.status.collision_count == 7 and status.spec.replicas == 4


def test_rollout_moves_status_and_watch_sees_it(apps, namespace, core):
    created = apps.create_namespaced_deployment(namespace, deployment("watched", replicas=2))
    seen = []
    stream = watch.Watch().stream(
        apps.list_namespaced_deployment,
        namespace,
        resource_version=created.metadata.resource_version,
        timeout_seconds=10,
    )
    for event in stream:
        status = event["object"].status
        seen.append((event["type"], status.ready_replicas))
        if status.ready_replicas == 2 and status.observed_generation == 1:
            break
    assert seen[0][0] == "MODIFIED" and seen[-1] == ("MODIFIED", 2)
    done = apps.read_namespaced_deployment_status("watched", namespace).status
    assert (done.updated_replicas, done.ready_replicas, done.available_replicas) == (2, 2, 2)
    reasons = {c.type: c.reason for c in done.conditions}
    assert reasons == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    pods = core.list_namespaced_pod(namespace, label_selector="app=watched").items
    rs_name = pods[0].metadata.owner_references[0].name
    assert all(p.metadata.name.startswith(rs_name + "-") for p in pods)
    assert all(p.metadata.labels["pod-template-hash"] for p in pods)

    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "first", "labels": {"w": "1"}}}
    )
    events = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map, namespace, label_selector="w=1", timeout_seconds=2
    ):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 1:
            core.create_namespaced_config_map(
                namespace, {"metadata": {"name": "later", "labels": {"w": "1"}}}
            )
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "unlabelled"}})
            core.delete_namespaced_config_map("later", namespace)
    assert events == [("ADDED", "first"), ("ADDED", "later"), ("DELETED", "later")]
    assert all(name != "unlabelled" for _, name in events)


def test_token_is_required_when_set(tmp_path):
    sandbox = server.start(token="s3cret-token", config=SandboxConfig(rollout_seconds=0.2))
    try:
        denied = requests.get(f"{sandbox.url}/api/v1/namespaces", timeout=5)
        assert denied.status_code == 401 and denied.json()["reason"] == "Unauthorized"
        allowed = requests.get(
            f"{sandbox.url}/api/v1/namespaces",
            timeout=5,
            headers={"Authorization": "Bearer s3cret-token"},
        )
        assert allowed.status_code == 200 and allowed.json()["kind"] == "NamespaceList"
        assert "s3cret-token" in sandbox.kubeconfig_text()
        path = sandbox.write_kubeconfig(str(tmp_path / "kc"))
        assert (tmp_path / "kc").stat().st_mode & 0o777 == 0o600 and path.endswith("kc")
    finally:
        sandbox.stop()
