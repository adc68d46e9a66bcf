"""API-server contracts as the typed Python client and kubectl see them: what DELETE
answers, dry-runs that change nothing, default ServiceAccounts, orphaning, custom
resources, ControllerRevisions."""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, watch

from tests.helpers import wait_until

WIDGETS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.lab.example"},
    "spec": {
        "group": "lab.example",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer"}},
                            },
                            "status": {
                                "type": "object",
                                "properties": {"ready": {"type": "boolean"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def ok(result):
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def deployment(name: str, replicas: int = 1) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": f"example.org/{name}:1"}]},
            },
        },
    }


def test_typed_deletes_return_what_the_api_server_returns(core, apps, namespace):
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    core.create_namespaced_pod(namespace, pod)
    deleted = core.delete_namespaced_pod("p", namespace)
    assert isinstance(deleted, client.V1Pod)
    assert deleted.metadata.name == "p"
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 30

    core.create_namespaced_service(
        namespace, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    )
    service = core.delete_namespaced_service("s", namespace)
    assert isinstance(service, client.V1Service)
    assert service.spec.ports[0].port == 80

    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    status = core.delete_namespaced_config_map("c", namespace)
    assert status["kind"] == "Status"
    assert status["status"] == "Success"
    assert status["details"]["name"] == "c"

    apps.create_namespaced_deployment(namespace, deployment("d"))
    assert apps.delete_namespaced_deployment("d", namespace)["details"]["kind"] == "deployments"

    gone = core.delete_namespace(namespace)
    assert gone["kind"] == "Namespace"
    assert gone["status"]["phase"] == "Terminating"


def test_dry_runs_change_nothing(core, apps, namespace, kubectl):
    for name in ("a", "b", "c"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    core.delete_collection_namespaced_config_map(namespace, dry_run="All")
    names = {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}
    assert {"a", "b", "c"} <= names
    out = ok(kubectl("delete", "configmap", "--all", "-n", namespace, "--dry-run=server"))
    assert 'configmap "a" deleted (server dry run)' in out
    names = {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}
    assert {"a", "b", "c"} <= names

    apps.create_namespaced_deployment(namespace, deployment("web", 2))
    scale = apps.patch_namespaced_deployment_scale(
        "web", namespace, {"spec": {"replicas": 7}}, dry_run="All"
    )
    assert scale.spec.replicas == 7
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2
    ok(kubectl("scale", "deploy/web", "--replicas=5", "-n", namespace, "--dry-run=server"))
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2

    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    core.create_namespaced_pod(namespace, pod)
    assert core.delete_namespaced_pod("p", namespace, dry_run="All").metadata.name == "p"
    assert core.read_namespaced_pod("p", namespace).metadata.deletion_timestamp is None


def test_every_namespace_has_a_default_service_account(core, namespace, kubectl):
    accounts = [a.metadata.name for a in core.list_namespaced_service_account(namespace).items]
    assert accounts == ["default"]
    assert "default" in ok(kubectl("get", "serviceaccount", "default", "-n", "kube-system"))
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    created = core.create_namespaced_pod(namespace, pod)
    assert created.spec.service_account_name == "default"


def test_delete_cascade_orphan_drops_owner_references(apps, namespace, kubectl):
    apps.create_namespaced_deployment(namespace, deployment("web", 2))
    ok(kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=20s"))
    ok(kubectl("delete", "deploy/web", "--cascade=orphan", "-n", namespace))
    replicasets = apps.list_namespaced_replica_set(namespace).items
    assert len(replicasets) == 1
    assert replicasets[0].metadata.owner_references is None
    assert replicasets[0].spec.replicas == 2


def test_custom_resources_crud_list_watch_and_apply(api_client, namespace, kubectl, tmp_path):
    extensions = client.ApiextensionsV1Api(api_client)
    if not any(
        c.metadata.name == "gadgets.lab.example"
        for c in extensions.list_custom_resource_definition().items
    ):
        extensions.create_custom_resource_definition(WIDGETS_CRD)
    custom = client.CustomObjectsApi(api_client)
    args = ("lab.example", "v1", namespace, "gadgets")

    seen: list[tuple[str, str]] = []
    started = threading.Event()

    def record() -> None:
        stream = watch.Watch()
        started.set()
        for event in stream.stream(custom.list_namespaced_custom_object, *args, timeout_seconds=10):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if event["type"] == "DELETED":
                stream.stop()

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    started.wait()

    body = {"apiVersion": "lab.example/v1", "kind": "Gadget", "metadata": {"name": "g1"}}
    custom.create_namespaced_custom_object(*args, {**body, "spec": {"size": 1}})
    assert custom.get_namespaced_custom_object(*args, "g1")["spec"] == {"size": 1}
    custom.patch_namespaced_custom_object(*args, "g1", {"spec": {"size": 2}})
    custom.patch_namespaced_custom_object_status(*args, "g1", {"status": {"ready": True}})
    got = custom.get_namespaced_custom_object(*args, "g1")
    assert (got["spec"], got["status"]) == ({"size": 2}, {"ready": True})
    listed = custom.list_namespaced_custom_object(*args)
    assert listed["kind"] == "GadgetList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["g1"]

    manifest = tmp_path / "g2.yaml"
    manifest.write_text("apiVersion: lab.example/v1\nkind: Gadget\nmetadata: {name: g2}\n")
    ok(kubectl("apply", "--server-side", "-f", str(manifest), "-n", namespace))
    assert "g2" in ok(kubectl("get", "gadgets", "-n", namespace))

    custom.delete_namespaced_custom_object(*args, "g1")
    watcher.join(timeout=10)
    assert ("ADDED", "g1") in seen
    assert ("MODIFIED", "g1") in seen
    assert ("DELETED", "g1") in seen


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["statefulset", "daemonset"])
def test_rollout_history_and_undo_of_statefulsets_and_daemonsets(kubectl, namespace, kind):
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet" if kind == "statefulset" else "DaemonSet",
        "metadata": {"name": "db"},
        "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "example.org/db:1"}]},
            },
        },
    }
    if kind == "statefulset":
        manifest["spec"].update(serviceName="db", replicas=1)
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest)))
    ok(kubectl("rollout", "status", f"{kind}/db", "-n", namespace, "--timeout=20s"))
    ok(kubectl("set", "image", f"{kind}/db", "db=example.org/db:2", "-n", namespace))
    ok(kubectl("rollout", "status", f"{kind}/db", "-n", namespace, "--timeout=20s"))

    history = ok(kubectl("rollout", "history", f"{kind}/db", "-n", namespace))
    revisions = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
    assert revisions == ["1", "2"]
    first = ok(kubectl("rollout", "history", f"{kind}/db", "--revision=1", "-n", namespace))
    assert "example.org/db:1" in first

    ok(kubectl("rollout", "undo", f"{kind}/db", "-n", namespace))
    image = ok(
        kubectl(
            "get",
            f"{kind}/db",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        )
    )
    assert image == "example.org/db:1"
    ok(kubectl("rollout", "status", f"{kind}/db", "-n", namespace, "--timeout=20s"))
    history = ok(kubectl("rollout", "history", f"{kind}/db", "-n", namespace))
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


def test_replication_controllers_keep_their_pods(core, namespace, kubectl):
    rc = {
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "legacy"}},
                "spec": {"containers": [{"name": "c", "image": "example.org/legacy:1"}]},
            },
        },
    }
    core.create_namespaced_replication_controller(namespace, rc)

    def ready():
        status = core.read_namespaced_replication_controller("legacy", namespace).status
        return status.ready_replicas == 2

    wait_until(ready)
    pods = core.list_namespaced_pod(namespace, label_selector="app=legacy").items
    assert len(pods) == 2


def test_get_wide_adds_the_wide_columns(apps, namespace, kubectl):
    apps.create_namespaced_deployment(namespace, deployment("web", 1))
    ok(kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=20s"))
    plain = ok(kubectl("get", "deploy", "-n", namespace)).splitlines()[0].split()
    wide = ok(kubectl("get", "deploy", "-n", namespace, "-o", "wide")).splitlines()
    assert wide[0].split() == [*plain, "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[-3:] == ["web", "example.org/web:1", "app=web"]
    pods = ok(kubectl("get", "pods", "-n", namespace, "-o", "wide")).splitlines()
    assert pods[0].split()[-6:] == ["IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    assert "sandbox-node" in pods[1]


def test_logs_timestamps_and_previous(core, namespace, kubectl):
    for name, image in (("steady", "example.org/steady:1"), ("crashy", "example.org/crashloop:1")):
        core.create_namespaced_pod(
            namespace,
            {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": image}]}},
        )

    def logged(name):
        return lambda: core.read_namespaced_pod_log(name, namespace)

    wait_until(logged("steady"))
    wait_until(logged("crashy"))

    stamped = ok(kubectl("logs", "steady", "-n", namespace, "--timestamps")).splitlines()
    assert stamped
    for line in stamped:
        stamp, _, text = line.partition(" ")
        assert stamp.endswith("Z") and "." in stamp and len(stamp) == 30, stamp
        assert text.startswith("sandbox: container c started")

    refused = kubectl("logs", "steady", "-n", namespace, "--previous")
    assert refused.returncode == 1
    assert 'previous terminated container "c" in pod "steady" not found' in refused.stderr
    previous = core.read_namespaced_pod_log("crashy", namespace, previous=True)
    assert "fatal: the process exited with code 1" in previous


def test_services_get_endpoints_and_endpoint_slices(apps, core, namespace, kubectl, api_client):
    apps.create_namespaced_deployment(namespace, deployment("api", 2))
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "api"},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    ok(kubectl("rollout", "status", "deploy/api", "-n", namespace, "--timeout=20s"))

    def ready_addresses():
        endpoints = core.read_namespaced_endpoints("api", namespace)
        subsets = endpoints.subsets or []
        return subsets and len(subsets[0].addresses or []) == 2 and subsets[0]

    subset = wait_until(ready_addresses)
    assert [p.port for p in subset.ports] == [8080]
    assert {a.target_ref.kind for a in subset.addresses} == {"Pod"}
    slices = client.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=api"
    )
    assert len(slices.items) == 1
    assert all(e.conditions.ready for e in slices.items[0].endpoints)
    assert ":8080" in ok(kubectl("get", "endpoints", "api", "-n", namespace))

    core.delete_namespaced_service("api", namespace)
    assert core.list_namespaced_endpoints(namespace).items == []
    assert client.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice(namespace).items == []


def test_custom_resources_survive_a_restart(tmp_path):
    from sandbox.kube import server

    state = str(tmp_path / "state.json")
    first = server.start(state_file=state)
    try:
        first.server.api.create(
            first.server.api.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            "",
            WIDGETS_CRD,
        )
        gadgets = first.server.api.lookup("lab.example", "v1", "gadgets")
        first.server.api.create(
            gadgets,
            "default",
            {"apiVersion": "lab.example/v1", "kind": "Gadget", "metadata": {"name": "kept"}},
        )
    finally:
        first.stop()
    second = server.start(state_file=state)
    try:
        gadgets = second.server.api.lookup("lab.example", "v1", "gadgets")
        assert second.server.api.get(gadgets, "default", "kept")["kind"] == "Gadget"
    finally:
        second.stop()


def test_autoscaling_v1_and_v2_are_one_object(api_client, namespace, kubectl):
    v1 = client.AutoscalingV1Api(api_client)
    v2 = client.AutoscalingV2Api(api_client)
    v1.create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 70,
            },
        },
    )
    through_v2 = v2.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    metric = through_v2.spec.metrics[0]
    assert (metric.type, metric.resource.name) == ("Resource", "cpu")
    assert metric.resource.target.average_utilization == 70

    v2.patch_namespaced_horizontal_pod_autoscaler(
        "web",
        namespace,
        {
            "spec": {
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 55},
                        },
                    }
                ]
            }
        },
    )
    through_v1 = v1.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert through_v1.spec.target_cpu_utilization_percentage == 55
    assert through_v1.spec.max_replicas == 5
    out = ok(
        kubectl(
            "get", "horizontalpodautoscalers.v1.autoscaling", "web", "-n", namespace, "-o", "json"
        )
    )
    assert json.loads(out)["spec"]["targetCPUUtilizationPercentage"] == 55


def test_delete_preconditions_are_checked(core, namespace):
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "pinned"}})
    stale = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    with pytest.raises(client.ApiException) as info:
        core.delete_namespaced_config_map("pinned", namespace, body=stale)
    assert info.value.status == 409
    assert "Precondition failed" in json.loads(info.value.body)["message"]
    fresh = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=created.metadata.uid))
    core.delete_namespaced_config_map("pinned", namespace, body=fresh)
    left = core.list_namespaced_config_map(namespace, field_selector="metadata.name=pinned")
    assert left.items == []


@pytest.mark.timeout(60)
def test_statefulset_partition_updates_only_the_high_ordinals(kubectl, namespace, core):
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "example.org/db:1"}]},
            },
        },
    }
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest)))
    ok(kubectl("rollout", "status", "sts/db", "-n", namespace, "--timeout=20s"))
    ok(kubectl("set", "image", "sts/db", "db=example.org/db:2", "-n", namespace))
    out = ok(kubectl("rollout", "status", "sts/db", "-n", namespace, "--timeout=20s"))
    assert "partitioned roll out complete: 1 new pods have been updated" in out
    images = {
        p.metadata.name: p.spec.containers[0].image
        for p in core.list_namespaced_pod(namespace, label_selector="app=db").items
    }
    assert images == {
        "db-0": "example.org/db:1",
        "db-1": "example.org/db:1",
        "db-2": "example.org/db:2",
    }


@pytest.mark.timeout(60)
def test_daemonset_default_update_removes_the_old_pod_first(kubectl, namespace, core, api_client):
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "a", "image": "example.org/agent:1"}]},
            },
        },
    }
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest)))
    ok(kubectl("rollout", "status", "ds/agent", "-n", namespace, "--timeout=20s"))

    counts: list[int] = []
    live: set[str] = set()
    started, done = threading.Event(), threading.Event()

    def record() -> None:
        stream = watch.Watch()
        for event in stream.stream(
            client.CoreV1Api(api_client).list_namespaced_pod, namespace, timeout_seconds=30
        ):
            name = event["object"].metadata.name
            if event["type"] == "DELETED":
                live.discard(name)
            else:
                live.add(name)
            counts.append(len(live))
            started.set()  # the initial ADDED of the running pod has arrived
            if done.is_set():
                stream.stop()

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    assert started.wait(10)
    ok(kubectl("set", "image", "ds/agent", "a=example.org/agent:2", "-n", namespace))
    ok(kubectl("rollout", "status", "ds/agent", "-n", namespace, "--timeout=20s"))
    done.set()
    core.patch_namespaced_pod(
        core.list_namespaced_pod(namespace).items[0].metadata.name,
        namespace,
        {"metadata": {"labels": {"poked": "yes"}}},
    )
    watcher.join(timeout=10)
    assert counts and max(counts) == 1, counts
