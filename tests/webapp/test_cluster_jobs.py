"""Cluster jobs of the web app against the sandbox cluster: Test connection, Sync from cluster."""

from __future__ import annotations

import uuid

import pytest
import yaml
from sqlalchemy import select

from jobs.kube import access as kube_access
from jobs.kube import cluster as kube
from sandbox.charts import build_chart_archive
from tests.helpers import run_queued_jobs
from tests.webapp.samples import DEPLOYMENT_TEMPLATE
from webapp.extensions import db
from webapp.models import Cluster, Environment, JobRun, Project, ProjectKind, Service


@pytest.fixture
def access(sandbox_cluster):
    return kube_access.ClusterAccess(kubeconfig=sandbox_cluster.kubeconfig_text())


@pytest.fixture
def namespace(access):
    name = f"w-{uuid.uuid4().hex[:8]}"
    kube.apply_manifests(
        access, name, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}]
    )
    return name


def finished_status(app, client) -> str:
    run_queued_jobs(app)
    with app.app_context():
        run = db.session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
    response = client.get(f"/jobs/{run.id}/status")
    assert response.status_code == 286
    return response.get_data(as_text=True)


def test_cluster_test_connection_reads_the_server_version(app, client, auth, sandbox_cluster):
    auth.login("admin")
    response = client.post(
        "/catalog/clusters/new",
        data={"name": "sandbox", "kubeconfig_text": sandbox_cluster.kubeconfig_text()},
    )
    assert response.status_code == 302
    cluster_url = response.headers["Location"]
    client.post(f"{cluster_url}/test")
    html = finished_status(app, client)
    assert "succeeded" in html and "Connected: Kubernetes v1.32" in html
    page = client.get(cluster_url).get_data(as_text=True)
    assert "v1.32" in page


def test_cluster_test_connection_reports_an_unreachable_server(app, client, auth):
    from sandbox.services import free_port

    auth.login("admin")
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "current-context": "c",
        }
    )
    response = client.post(
        "/catalog/clusters/new", data={"name": "gone", "kubeconfig_text": kubeconfig}
    )
    client.post(f"{response.headers['Location']}/test")
    html = finished_status(app, client)
    assert "failed" in html and "cannot reach the Kubernetes API" in html


def _environment(app, sandbox_cluster, namespace, kind: ProjectKind, services) -> int:
    with app.app_context():
        cluster = Cluster(name=f"c-{namespace}", kubeconfig=sandbox_cluster.kubeconfig_text())
        project = Project(key=f"p-{namespace}", name="P", kind=kind)
        for name in services:
            template = (
                DEPLOYMENT_TEMPLATE.format(name=name, image=f"registry.example.com/shop/{name}:1.0")
                if kind is ProjectKind.K8S_YAML
                else None
            )
            db.session.add(Service(project=project, name=name, yaml_template=template))
        env = Environment(project=project, name="test", namespace=namespace, cluster=cluster)
        db.session.add(env)
        db.session.commit()
        return env.id


def test_sync_records_the_images_running_in_the_namespace(
    app, client, auth, sandbox_cluster, access, namespace
):
    env_id = _environment(app, sandbox_cluster, namespace, ProjectKind.K8S_YAML, ["cart", "web"])
    live = yaml.safe_load(
        DEPLOYMENT_TEMPLATE.format(name="cart", image="registry.example.com/shop/cart:1.0")
    )
    live["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "registry.example.com/shop/cart:7.7"
    )
    kube.apply_manifests(access, namespace, [live])
    auth.login("tester")
    response = client.post(f"/catalog/environments/{env_id}/sync", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in response.get_data(as_text=True)
    html = finished_status(app, client)
    assert "recorded cart" in html and "not running there: web" in html
    page = client.get(f"/catalog/environments/{env_id}").get_data(as_text=True)
    assert "registry.example.com/shop/cart:7.7" in page
    assert "Last synced" in page and "not deployed" in page


def test_sync_reads_helm_releases(app, client, auth, sandbox_cluster, access, namespace):
    from jobs.helm.releases import helm_upgrade

    env_id = _environment(app, sandbox_cluster, namespace, ProjectKind.HELM, ["ingest"])
    archive = build_chart_archive(
        "ingest", "2.4.0", image_repository="registry.example.com/ingest", image_tag="3.3"
    )
    helm_upgrade(access, namespace, "ingest", archive, {"replicaCount": 2})
    auth.login("release")
    client.post(f"/catalog/environments/{env_id}/sync")
    assert "recorded ingest" in finished_status(app, client)
    with app.app_context():
        state = db.session.get(Environment, env_id).deployed[0]
        assert state.chart_version == "2.4.0"
        assert yaml.safe_load(state.values_yaml) == {"replicaCount": 2}
        assert {i.container: i.image for i in state.images} == {
            "ingest": "registry.example.com/ingest:3.3"
        }


def test_sync_without_cluster_is_refused_with_a_message(app, client, auth):
    with app.app_context():
        project = Project(key="nocluster", name="N", kind=ProjectKind.K8S_YAML)
        env = Environment(project=project, name="dev", namespace="n")
        db.session.add(env)
        db.session.commit()
        env_id = env.id
    auth.login("admin")
    page = client.post(f"/catalog/environments/{env_id}/sync", follow_redirects=True)
    assert "has no cluster to sync from" in page.get_data(as_text=True)


def test_sync_skips_a_service_whose_stored_template_has_the_wrong_shape(
    app, client, auth, sandbox_cluster, access, namespace
):
    env_id = _environment(app, sandbox_cluster, namespace, ProjectKind.K8S_YAML, ["cart", "web"])
    with app.app_context():
        # Saved before the form checked shapes: metadata.name is a list.
        web = db.session.scalar(select(Service).where(Service.name == "web"))
        web.yaml_template = (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: [x]}\n"
            "spec: {containers: [{name: a, image: b}]}\n"
        )
        db.session.commit()
    kube.apply_manifests(
        access,
        namespace,
        [yaml.safe_load(DEPLOYMENT_TEMPLATE.format(name="cart", image="r.example.com/cart:2"))],
    )
    auth.login("tester")
    client.post(f"/catalog/environments/{env_id}/sync")
    html = finished_status(app, client)
    assert "succeeded" in html and "recorded cart" in html
    assert "skipped, edit them first: web (Pod metadata.name must be a non-empty text.)" in html
    page = client.get(f"/catalog/environments/{env_id}").get_data(as_text=True)
    assert "r.example.com/cart:2" in page
