"""jobs.kube.cluster end to end against the sandbox cluster (the Kubernetes API emulator)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from jobs.kube import access as kube_access
from jobs.kube import cluster, rollouts
from jobs.kube import test_jobs as cluster_test_jobs
from sandbox.kube import server
from sandbox.kube.config import SandboxConfig


@pytest.fixture(scope="module")
def access(sandbox_cluster):
    return kube_access.ClusterAccess(kubeconfig=sandbox_cluster.kubeconfig_text())


@pytest.fixture(scope="module")
def core(sandbox_cluster):
    """A plain kubernetes client, to check independently what landed."""
    text = sandbox_cluster.kubeconfig_text()
    api = k8s_config.new_client_from_config_dict(yaml.safe_load(text))
    yield api
    api.close()


@pytest.fixture
def namespace(access):
    name = f"t-{uuid.uuid4().hex[:8]}"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    cluster.apply_manifests(access, name, [ns])
    return name


def deployment(name: str, *containers: tuple[str, str], replicas: int = 2) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": c, "image": image, "env": [{"name": "MODE", "value": "x"}]}
                        for c, image in containers
                    ]
                },
            },
        },
    }


MULTI_DOC = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: somewhere-else
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example/shop/web:1.0
        - name: proxy
          image: registry.example/shop/proxy:3.1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80
---
# an empty document is skipped
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
data:
  LEVEL: debug
"""


def test_server_version_reads_git_version(access):
    version = cluster.server_version(access)
    assert version.startswith("v1.") and version.endswith(" (sandbox)")


def test_wrong_token_is_unauthorized_and_names_the_server():
    guarded = server.start(token="the-token", config=SandboxConfig(rollout_seconds=0.3))
    try:
        text = guarded.kubeconfig_text().replace("the-token", "not-the-token")
        with pytest.raises(kube_access.ClusterUnauthorized) as info:
            cluster.server_version(kube_access.ClusterAccess(kubeconfig=text))
        assert cluster.server_version(
            kube_access.ClusterAccess(kubeconfig=guarded.kubeconfig_text())
        )
    finally:
        guarded.stop()
    assert guarded.url in str(info.value)
    assert "not-the-token" not in str(info.value)


def test_apply_multi_document_yaml_into_the_namespace(access, core, namespace):
    applied = cluster.apply_manifests(access, namespace, MULTI_DOC)

    assert [(a.kind, a.name, a.namespace) for a in applied] == [
        ("Deployment", "web", namespace),
        ("Service", "web", namespace),
        ("ConfigMap", "web-settings", namespace),
    ]
    dep = k8s.AppsV1Api(core).read_namespaced_deployment("web", namespace)
    assert [c.image for c in dep.spec.template.spec.containers] == [
        "registry.example/shop/web:1.0",
        "registry.example/shop/proxy:3.1",
    ]
    assert any(m.manager == "slipway" for m in dep.metadata.managed_fields or [])
    assert k8s.CoreV1Api(core).read_namespaced_config_map("web-settings", namespace).data == {
        "LEVEL": "debug"
    }
    assert k8s.CoreV1Api(core).read_namespaced_service("web", namespace).spec.ports[0].port == 80

    workloads = cluster.read_workloads(access, namespace)
    assert [(w.kind, w.name, w.replicas) for w in workloads] == [("Deployment", "web", 2)]
    assert workloads[0].containers == [
        cluster.Container("web", "registry.example/shop/web:1.0"),
        cluster.Container("proxy", "registry.example/shop/proxy:3.1"),
    ]


def test_apply_into_a_missing_namespace_is_not_found_unless_created(access, core):
    name = f"new-{uuid.uuid4().hex[:8]}"
    doc = [deployment("web", ("web", "r.example/web:1"))]
    with pytest.raises(kube_access.ClusterNotFound, match=name):
        cluster.apply_manifests(access, name, doc)

    applied = cluster.apply_manifests(access, name, doc, create_namespace=True)

    assert [(a.kind, a.namespace) for a in applied] == [("Namespace", None), ("Deployment", name)]
    assert k8s.AppsV1Api(core).read_namespaced_deployment("web", name).metadata.namespace == name


def test_apply_again_updates_in_place(access, core, namespace):
    cluster.apply_manifests(access, namespace, [deployment("api", ("api", "r.example/api:1"))])
    changed = deployment("api", ("api", "r.example/api:1"), replicas=5)
    cluster.apply_manifests(access, namespace, [changed])
    assert k8s.AppsV1Api(core).read_namespaced_deployment("api", namespace).spec.replicas == 5


def test_apply_rejects_a_document_without_kind(access, namespace):
    with pytest.raises(kube_access.ClusterError, match="apiVersion and kind"):
        cluster.apply_manifests(access, namespace, "metadata: {name: x}\n")


def test_set_images_changes_only_the_named_container(access, core, namespace):
    dep = deployment("shop", ("web", "r.example/web:1.0"), ("proxy", "r.example/proxy:3.1"))
    cluster.apply_manifests(access, namespace, [dep])

    cluster.set_images(access, namespace, [("Deployment", "shop")], {"web": "r.example/web:2.0"})

    live = k8s.AppsV1Api(core).read_namespaced_deployment("shop", namespace)
    containers = live.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [
        ("web", "r.example/web:2.0"),
        ("proxy", "r.example/proxy:3.1"),
    ]
    assert containers[0].env[0].value == "x"
    assert live.spec.replicas == 2


def test_set_images_on_a_missing_workload_is_not_found(access, namespace):
    with pytest.raises(kube_access.ClusterNotFound, match="ghost"):
        cluster.set_images(access, namespace, [("Deployment", "ghost")], {"web": "r/x:1"})


def test_rollout_success_reports_progress(access, namespace):
    cluster.apply_manifests(access, namespace, [deployment("ok", ("app", "r.example/ok:1"))])
    seen: list[rollouts.RolloutProgress] = []

    done = rollouts.wait_for_rollout(
        access, namespace, [("Deployment", "ok")], timeout=20, on_progress=seen.append
    )

    assert [d.done for d in done] == [True]
    assert seen and seen[-1].done and seen[-1].updated == seen[-1].available == 2
    assert any(not s.done for s in seen)
    assert cluster.read_workloads(access, namespace)[0].ready == 2


def test_image_update_rolls_out_the_new_generation(access, core, namespace):
    cluster.apply_manifests(access, namespace, [deployment("up", ("app", "r.example/up:1"))])
    rollouts.wait_for_rollout(access, namespace, [("Deployment", "up")], timeout=20)

    cluster.set_images(access, namespace, [("Deployment", "up")], {"app": "r.example/up:2"})
    rollouts.wait_for_rollout(access, namespace, [("Deployment", "up")], timeout=20)

    live = k8s.AppsV1Api(core).read_namespaced_deployment("up", namespace)
    assert live.status.observed_generation == live.metadata.generation
    assert live.status.updated_replicas == 2


@pytest.mark.timeout(30)
def test_crashloop_fails_within_five_seconds_with_the_pod_message(access, namespace):
    dep = deployment("boom", ("app", "r.example/crashloop-app:1"))
    cluster.apply_manifests(access, namespace, [dep])
    started = time.monotonic()

    with pytest.raises(kube_access.RolloutFailed) as info:
        rollouts.wait_for_rollout(access, namespace, [("Deployment", "boom")], timeout=60)

    assert time.monotonic() - started < 5
    assert info.value.reason == "CrashLoopBackOff"
    assert info.value.pod_message
    assert info.value.pod_message in str(info.value)
    assert "boom" in str(info.value) and namespace in str(info.value)


@pytest.mark.timeout(30)
def test_image_pull_failure_is_reported_as_such(access, namespace):
    dep = deployment("nopull", ("app", "r.example/doesnotexist:1"))
    cluster.apply_manifests(access, namespace, [dep])

    with pytest.raises(kube_access.ImagePullFailed) as info:
        rollouts.wait_for_rollout(access, namespace, [("Deployment", "nopull")], timeout=60)

    assert info.value.reason in ("ErrImagePull", "ImagePullBackOff")
    assert "doesnotexist" in str(info.value)


def test_rollout_times_out_at_the_deadline(access, namespace):
    dep = deployment("slow", ("app", "r.example/slow:1"), replicas=3)
    cluster.apply_manifests(access, namespace, [dep])

    with pytest.raises(kube_access.RolloutTimeout, match="Deployment slow"):
        rollouts.wait_for_rollout(access, namespace, [("Deployment", "slow")], timeout=0.1)


def test_test_job_passes_with_logs_and_is_deleted(access, core, namespace):
    result = cluster_test_jobs.run_test_job(
        access,
        namespace,
        image="r.example/tests:1",
        command=["sh", "-c", "echo all good"],
        env={"TARGET": "http://web"},
        timeout=30,
    )

    assert result.passed, result.message
    assert result.status == "passed"
    assert "all good" in result.logs
    jobs = k8s.BatchV1Api(core).list_namespaced_job(namespace).items
    assert result.job_name not in [j.metadata.name for j in jobs]


def test_test_job_that_fails_returns_failed_with_logs(access, namespace):
    result = cluster_test_jobs.run_test_job(
        access,
        namespace,
        image="r.example/tests:1",
        command=["sh", "-c", "echo checking; exit 1"],
        timeout=30,
    )

    assert not result.passed
    assert result.status == "failed"
    assert "checking" in result.logs


def test_stale_write_is_a_conflict(access, core, namespace):
    cluster.apply_manifests(access, namespace, [deployment("race", ("app", "r.example/a:1"))])
    apps = k8s.AppsV1Api(core)
    stale = apps.read_namespaced_deployment("race", namespace)
    cluster.set_images(access, namespace, [("Deployment", "race")], {"app": "r.example/a:2"})

    body = core.sanitize_for_serialization(stale)
    with cluster.connect(access) as conn, pytest.raises(kube_access.ClusterConflict) as info:
        conn.request(
            "PUT",
            f"/apis/apps/v1/namespaces/{namespace}/deployments/race",
            body=body,
            what="replacing Deployment race",
        )
    assert "Deployment race" in str(info.value)


def test_concurrent_image_updates_retry_and_lose_nothing(access, core, namespace):
    dep = deployment("two", ("a", "r.example/a:0"), ("b", "r.example/b:0"))
    cluster.apply_manifests(access, namespace, [dep])
    errors: list[BaseException] = []

    def writer(container: str) -> None:
        try:
            for i in range(1, 16):
                image = f"r.example/{container}:{i}"
                cluster.set_images(access, namespace, [("Deployment", "two")], {container: image})
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c,)) for c in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    live = k8s.AppsV1Api(core).read_namespaced_deployment("two", namespace)
    assert [c.image for c in live.spec.template.spec.containers] == [
        "r.example/a:15",
        "r.example/b:15",
    ]


def _workload(kind: str, name: str, image: str) -> dict:
    obj = deployment(name, ("c", image))
    obj["kind"] = kind
    if kind == "DaemonSet":
        del obj["spec"]["replicas"]
    if kind == "StatefulSet":
        obj["spec"]["serviceName"] = name
    return obj


def test_statefulset_and_daemonset_roll_out_and_fail(access, namespace):
    objects = [
        _workload("StatefulSet", "db", "r.example/db:1"),
        _workload("DaemonSet", "agent", "r.example/agent:1"),
    ]
    cluster.apply_manifests(access, namespace, objects)
    both = [("StatefulSet", "db"), ("DaemonSet", "agent")]
    done = rollouts.wait_for_rollout(access, namespace, both, timeout=20)
    assert {(d.kind, d.done) for d in done} == {("StatefulSet", True), ("DaemonSet", True)}

    cluster.set_images(access, namespace, both, {"c": "r.example/crashloop-db:2"})
    with pytest.raises(kube_access.RolloutFailed, match="CrashLoopBackOff"):
        rollouts.wait_for_rollout(access, namespace, both, timeout=20)


def test_apply_without_force_reports_the_other_field_manager(access, core, namespace):
    cluster.apply_manifests(access, namespace, [deployment("owned", ("app", "r.example/o:1"))])
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "owned"},
        "spec": {"replicas": 7},
    }
    with cluster.connect(access) as conn:
        conn.request(
            "PATCH",
            f"/apis/apps/v1/namespaces/{namespace}/deployments/owned",
            query=[("fieldManager", "hand-edit"), ("force", "true")],
            body=patch,
            content_type="application/apply-patch+yaml",
            what="a hand edit",
        )

    with pytest.raises(kube_access.ClusterConflict, match="hand-edit"):
        cluster.apply_manifests(
            access, namespace, [deployment("owned", ("app", "r.example/o:2"))], force=False
        )
    cluster.apply_manifests(access, namespace, [deployment("owned", ("app", "r.example/o:2"))])
    assert k8s.AppsV1Api(core).read_namespaced_deployment("owned", namespace).spec.replicas == 2
