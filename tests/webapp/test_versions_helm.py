"""Helm versions end to end: the form, the job against real registries, the pages and downloads."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest
import requests
import yaml
from sqlalchemy import select

from jobs.chart_push import pull_chart, push_chart
from jobs.charts import package_chart
from tests.jobs.test_version_job import registry_digest
from tests.webapp.helm_version_fixtures import (
    make_helm_catalog,
    step_url,
    values_post,
    values_rows,
)
from tests.webapp.test_jobs import run_queued_jobs
from tests.webapp.version_fixtures import text
from webapp.extensions import db
from webapp.models import ImageStatus, Service, Version, VersionStatus

pytestmark = pytest.mark.timeout(120)


def rendered(archive: bytes) -> dict[str, dict]:
    """The chart rendered by the Helm SDK: {kind: document}."""
    import helm_python

    with helm_python.Chart.load_archive(archive) as chart:
        manifests = chart.render(name="rel", namespace="prod")
    docs = [yaml.safe_load(t) for t in manifests.values()]
    return {doc["kind"]: doc for doc in docs if doc}


def chart_yaml(archive: bytes, name: str) -> dict:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return yaml.safe_load(tar.extractfile(f"{name}/Chart.yaml").read())


def seed_chart_versions(app, address: str, name: str, versions: list[str], chart: bytes) -> None:
    """Push earlier versions of a chart to the chart repository, as a past release did."""
    with app.app_context():
        for version in versions:
            packaged = package_chart(
                chart,
                values={
                    "replicaCount": 1,
                    "image": {"repository": "x/y", "tag": "1"},
                    "service": {"port": 80},
                },
                version=version,
                app_version="old",
            )
            push_chart(packaged, f"{address}/prod-helm/charts", plain_http=True)


def to_step_2(client, cat, name: str):
    response = client.post(step_url(cat, 1), data={"name": name, "action": "next"})
    assert response.status_code == 302, text(response)
    page = client.post(
        step_url(cat, 2),
        data={
            "environment_id": cat.environment_id,
            "service_ids": list(cat.service_ids.values()),
            "action": "environment",
        },
    )
    assert page.status_code == 200, text(page)
    return text(page)


def step_2_data(cat, html: str, action: str, **extra) -> dict:
    return values_post(
        html,
        action,
        environment_id=cat.environment_id,
        service_ids=list(cat.service_ids.values()),
        **extra,
    )


@pytest.fixture
def tester(client, auth):
    auth.login("tester")
    return client


@pytest.fixture
def helm_cat(app, registry, second_registry):
    return make_helm_catalog(
        app,
        registry.address,
        second_registry.address,
        {
            "api": {"extra": {"ingress": {"enabled": False}, "logLevel": "info"}},
            "worker": {"extra": {"logLevel": "info"}, "order": 2},
        },
        namespace="prod-helm",
    )


@pytest.mark.slow
def test_a_helm_version_made_through_the_form_packages_pushes_and_serves_its_charts(
    app, tester, helm_cat, second_registry
):
    cat = helm_cat
    # The repository holds worker 1.2.3 and 1.10.0: the suggestion is 1.10.1.
    with app.app_context():
        worker_chart = db.session.get(Service, cat.service_ids["worker"]).chart_archive
    seed_chart_versions(app, second_registry.address, "worker", ["1.2.3", "1.10.0"], worker_chart)
    # Chart repository of the registry namespace prod-helm.
    app_address = second_registry.address
    html = to_step_2(tester, cat, "2026.11.1")
    rows = values_rows(html)
    api_id, worker_id = str(cat.service_ids["api"]), str(cat.service_ids["worker"])
    assert "ingress:\n  enabled: false" in rows[api_id]
    rows[worker_id] = rows[worker_id].replace("replicaCount: 1", "replicaCount: 2")
    data = step_2_data(cat, html, "apply_globals", globals_yaml="ingress:\n  enabled: true\n")
    for index, service_id in enumerate(rows):
        data[f"values-{index}-values"] = rows[service_id]
    applied = tester.post(
        step_url(cat, 2), data=data, headers={"HX-Request": "true", "HX-Target": "helm-values"}
    )
    assert applied.status_code == 200, text(applied)
    fragment = text(applied)
    assert fragment.startswith('<div id="helm-values">') or 'id="helm-values"' in fragment[:200]
    after = values_rows(fragment)
    assert "ingress:\n  enabled: true" in after[api_id]
    assert "ingress" not in after[worker_id]  # worker has no ingress key: not added
    assert "replicaCount: 2" in after[worker_id]  # the edit made before Apply is kept
    assert "api: ingress.enabled" in fragment
    # Each editor shows its diff against the environment's values.
    assert "-  enabled: false\n+  enabled: true" in fragment
    assert "-replicaCount: 1\n+replicaCount: 2" in fragment
    next_page = tester.post(step_url(cat, 2), data=step_2_data(cat, fragment, "next"))
    assert next_page.status_code == 302, text(next_page)

    page = tester.post(
        step_url(cat, 3),
        data={
            "registry_id": cat.registry_id,
            "chart_registry_id": cat.registry_id,
            "action": "registry",
        },
    )
    assert page.status_code == 200, text(page)
    assert f"oci://{app_address}/prod-helm/charts" in text(page)
    from tests.webapp.version_fixtures import images_post

    post = images_post(
        text(page), "create", registry_id=cat.registry_id, chart_registry_id=cat.registry_id
    )
    post.update(
        {
            "charts-0-service_id": api_id,
            "charts-0-version": "2.0.0",
            "charts-1-service_id": worker_id,
            "charts-1-version": "",
        }
    )
    created = tester.post(step_url(cat, 3), data=post)
    assert created.status_code == 302, text(created)
    run_queued_jobs(app)

    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status == VersionStatus.SUCCESS, version.error
        charts = {s.name: s for s in version.charts}
        assert charts["api"].chart_version == "2.0.0"
        assert charts["worker"].chart_version == "1.10.1"
        for image in version.images:
            assert image.status == ImageStatus.DONE
            repo = image.target_ref.split("/", 1)[1].rsplit(":", 1)
            assert registry_digest(second_registry.address, repo[0], repo[1])[0] == (
                image.source_digest
            )
        version_id = version.id
        api = charts["api"]
        api_ref, api_digest, api_sid = api.chart_reference, api.chart_digest, api.id
        api_manifest_digest = api.chart_manifest_digest
        worker_sid = charts["worker"].id

    assert api_ref == f"oci://{app_address}/prod-helm/charts/api:2.0.0"
    detail = text(tester.get(f"/versions/{version_id}"))
    assert api_ref in detail and api_digest in detail and "Download all charts" in detail

    download = tester.get(f"/versions/{version_id}/charts/{api_sid}.tgz")
    assert download.status_code == 200
    assert download.mimetype == "application/gzip"
    assert download.headers["Content-Disposition"] == 'attachment; filename="api-2.0.0.tgz"'
    archive = download.get_data()
    assert "sha256:" + hashlib.sha256(archive).hexdigest() == api_digest
    # What the registry serves is byte for byte the download.
    assert pull_chart(api_ref, plain_http=True) == archive
    manifest = requests.get(
        f"http://{app_address}/v2/prod-helm/charts/api/manifests/2.0.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )
    assert manifest.headers["Docker-Content-Digest"] == api_manifest_digest
    assert manifest.json()["config"]["mediaType"] == "application/vnd.cncf.helm.config.v1+json"
    assert [layer["mediaType"] for layer in manifest.json()["layers"]] == [
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    ]
    assert manifest.json()["layers"][0]["digest"] == api_digest
    meta = chart_yaml(archive, "api")
    assert meta["version"] == "2.0.0" and meta["appVersion"] == "2026.11.1"
    deployment = rendered(archive)["Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{app_address}/prod-helm/api:2026.11.1"

    worker = tester.get(f"/versions/{version_id}/charts/{worker_sid}.tgz").get_data()
    assert rendered(worker)["Deployment"]["spec"]["replicas"] == 2

    everything = tester.get(f"/versions/{version_id}/charts.tar")
    assert everything.mimetype == "application/x-tar"
    assert "analytics-2026.11.1-charts.tar" in everything.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(everything.get_data())) as tar:
        assert sorted(tar.getnames()) == ["api-2.0.0.tgz", "worker-1.10.1.tgz"]
        assert tar.extractfile("api-2.0.0.tgz").read() == archive
        assert tar.extractfile("worker-1.10.1.tgz").read() == worker
