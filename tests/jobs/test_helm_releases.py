"""Helm releases through jobs.helm.releases against the sandbox cluster."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from jobs.helm import releases as helm_releases
from jobs.kube import access as kube_access
from jobs.kube import cluster, rollouts
from sandbox.kube import server
from sandbox.kube.config import SandboxConfig

CHART_DIR = Path(__file__).parent.parent / "data" / "charts" / "demo"


# The session's sandbox_cluster has no token, as Helm needs over plain HTTP: Go
# clients (Helm, kubectl) never send a bearer token to an http:// server.


@pytest.fixture(scope="module")
def access(sandbox_cluster):
    return kube_access.ClusterAccess(kubeconfig=sandbox_cluster.kubeconfig_text())


@pytest.fixture(scope="module")
def core(sandbox_cluster):
    text = sandbox_cluster.kubeconfig_text()
    api = k8s_config.new_client_from_config_dict(yaml.safe_load(text))
    yield api
    api.close()


@pytest.fixture(scope="module")
def chart_archive(tmp_path_factory) -> bytes:
    import helm_python

    path = helm_python.package(CHART_DIR, destination=tmp_path_factory.mktemp("chart"))
    return Path(path).read_bytes()


def _image(core, namespace: str, name: str) -> str:
    dep = k8s.AppsV1Api(core).read_namespaced_deployment(name, namespace)
    return dep.spec.template.spec.containers[0].image


def _values(tag: str) -> dict:
    return {"image": {"repository": "registry.example/demo/web", "tag": tag}}


@pytest.mark.timeout(120)
def test_install_upgrade_history_rollback(access, core, chart_archive):
    namespace = f"h-{uuid.uuid4().hex[:8]}"

    first = helm_releases.helm_upgrade(
        access, namespace, "shop", chart_archive, _values("1.0"), timeout=60
    )
    assert (first.revision, first.status, first.chart_name) == (1, "deployed", "demo")
    assert first.workloads == [("Deployment", "shop-web")]
    assert _image(core, namespace, "shop-web") == "registry.example/demo/web:1.0"
    rollouts.wait_for_rollout(access, namespace, first.workloads, timeout=20)

    second = helm_releases.helm_upgrade(
        access, namespace, "shop", chart_archive, _values("2.0"), timeout=60
    )
    assert (second.revision, second.status) == (2, "deployed")
    rollouts.wait_for_rollout(access, namespace, second.workloads, timeout=20)
    assert _image(core, namespace, "shop-web") == "registry.example/demo/web:2.0"

    history = helm_releases.helm_history(access, namespace, "shop")
    assert [(h.revision, h.status) for h in history] == [(1, "superseded"), (2, "deployed")]
    assert {h.chart_version for h in history} == {"0.1.0"}

    rolled = helm_releases.helm_rollback(access, namespace, "shop", 1)
    assert (rolled.revision, rolled.status) == (3, "deployed")
    rollouts.wait_for_rollout(access, namespace, rolled.workloads, timeout=20)
    assert _image(core, namespace, "shop-web") == "registry.example/demo/web:1.0"
    workloads = cluster.read_workloads(access, namespace)
    assert workloads[0].containers[0].image == "registry.example/demo/web:1.0"

    status = helm_releases.helm_status(access, namespace, "shop")
    assert (status.chart_name, status.chart_version, status.revision) == ("demo", "0.1.0", 3)
    assert status.status == "deployed"
    assert status.values["image"]["tag"] == "1.0"

    # Helm's own storage: one release Secret per revision, in the cluster.
    secrets = k8s.CoreV1Api(core).list_namespaced_secret(namespace, label_selector="owner=helm")
    names = sorted(s.metadata.name for s in secrets.items)
    assert names == [f"sh.helm.release.v1.shop.v{n}" for n in (1, 2, 3)]
    assert all(base64.b64decode(s.data["release"]) for s in secrets.items)


@pytest.mark.timeout(60)
def test_upgrade_that_never_gets_ready_times_out_and_is_recorded_failed(access, chart_archive):
    namespace = f"h-{uuid.uuid4().hex[:8]}"
    helm_releases.helm_upgrade(access, namespace, "web", chart_archive, _values("1.0"))

    with pytest.raises(kube_access.RolloutTimeout, match="web"):
        helm_releases.helm_upgrade(
            access, namespace, "web", chart_archive, _values("crashloop"), wait=True, timeout=2
        )

    history = helm_releases.helm_history(access, namespace, "web")
    assert [(h.revision, h.status) for h in history] == [(1, "deployed"), (2, "failed")]


def test_status_of_an_unknown_release_is_not_found(access):
    with pytest.raises(kube_access.ClusterNotFound, match="ghost"):
        helm_releases.helm_status(access, "default", "ghost")


def test_broken_chart_archive_is_a_chart_error(access):
    with pytest.raises(helm_releases.HelmChartError):
        helm_releases.helm_upgrade(access, "default", "broken", b"not a tarball")


def test_rejected_credentials_are_unauthorized():
    guarded = server.start(token="helm-test-token", config=SandboxConfig(rollout_seconds=0.3))
    try:
        access = kube_access.ClusterAccess(kubeconfig=guarded.kubeconfig_text())
        with pytest.raises(kube_access.ClusterUnauthorized, match=guarded.url):
            helm_releases.helm_history(access, "default", "shop")
    finally:
        guarded.stop()


def test_unreachable_cluster_is_reported_as_unreachable(sandbox_cluster):
    text = sandbox_cluster.kubeconfig_text().replace(sandbox_cluster.url, "http://127.0.0.1:9")
    access = kube_access.ClusterAccess(kubeconfig=text)
    with pytest.raises(kube_access.ClusterUnreachable, match="127.0.0.1:9"):
        helm_releases.helm_history(access, "default", "shop")
