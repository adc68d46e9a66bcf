"""Helm versions end to end: the form, the job against real registries, the pages and downloads."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile

import pytest
import requests
import yaml
from sqlalchemy import select

from jobs.helm.charts import package_chart
from jobs.helm.repository import pull_chart, push_chart
from sandbox.charts import build_chart_archive
from tests.helpers import run_queued_jobs
from tests.jobs.test_version_job import registry_digest
from tests.webapp.helm_version_fixtures import (
    chart_needing_db_host,
    make_helm_catalog,
    step_2_data,
    step_url,
    to_step_2,
    values_rows,
)
from tests.webapp.version_fixtures import images_post, text
from webapp.extensions import db
from webapp.models import ImageStatus, Service, Version, VersionStatus
from webapp.models.versions import ChartStatus

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


def seed_chart_versions(app, repository: str, name: str, versions: list[str], chart: bytes):
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
            push_chart(packaged, repository, plain_http=True)


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
    )


@pytest.mark.slow
def test_a_helm_version_made_through_the_form_packages_pushes_and_serves_its_charts(
    app, tester, helm_cat, second_registry
):
    cat = helm_cat
    # The repository holds worker 1.2.3 and 1.10.0: the suggestion is 1.10.1.
    with app.app_context():
        worker_chart = db.session.get(Service, cat.service_ids["worker"]).chart_archive
    seed_chart_versions(
        app,
        f"{second_registry.address}/{cat.charts_path}",
        "worker",
        ["1.2.3", "1.10.0"],
        worker_chart,
    )
    app_address = second_registry.address
    chart_repo = f"{app_address}/{cat.charts_path}"
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
    assert fragment.lstrip().startswith('<div id="helm-values">')  # the region alone
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
    assert f"oci://{chart_repo}" in text(page)
    assert "Looking up the charts" in text(page)
    run_queued_jobs(app)
    lookup = tester.get(f"/versions/projects/{cat.project_id}/new/chart-versions")
    assert lookup.status_code == 286
    rows = dict(re.findall(r'<tr data-chart="(\w+)">(.*?)</tr>', text(lookup)))
    assert rows["worker"] == "<td>worker</td><td>1.10.0</td><td><code>1.10.1</code></td>"
    assert rows["api"] == "<td>api</td><td>none: a new chart</td><td><code>1.0.0</code></td>"
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

    assert api_ref == f"oci://{chart_repo}/api:2.0.0"
    detail = text(tester.get(f"/versions/{version_id}"))
    assert api_ref in detail and api_digest in detail and "Download all charts" in detail
    # The version page records the global block and each service's diff against the environment.
    globals_section = detail[detail.index('id="version-globals"') :]
    assert "ingress:\n  enabled: true" in globals_section[: globals_section.index("</section>")]
    api_diff = detail[detail.index('id="environment-diff-api"') :]
    api_diff = api_diff[: api_diff.index("</details>")]
    assert '<span class="diff-del">-  enabled: false</span>' in api_diff
    assert '<span class="diff-add">+  enabled: true</span>' in api_diff
    assert '<span class="diff-add">+replicaCount: 2</span>' in detail

    download = tester.get(f"/versions/{version_id}/charts/{api_sid}.tgz")
    assert download.status_code == 200
    assert download.mimetype == "application/gzip"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"api-2.0.0.tgz\"; filename*=UTF-8''api-2.0.0.tgz"
    )
    archive = download.get_data()
    assert "sha256:" + hashlib.sha256(archive).hexdigest() == api_digest
    # What the registry serves is byte for byte the download.
    assert pull_chart(api_ref, plain_http=True) == archive
    manifest = requests.get(
        f"http://{app_address}/v2/{cat.charts_path}/api/manifests/2.0.0",
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
    assert image == f"{app_address}/{cat.namespace}/api:2026.11.1"

    worker = tester.get(f"/versions/{version_id}/charts/{worker_sid}.tgz").get_data()
    assert rendered(worker)["Deployment"]["spec"]["replicas"] == 2

    everything = tester.get(f"/versions/{version_id}/charts.tar")
    assert everything.mimetype == "application/x-tar"
    assert "analytics-2026.11.1-charts.tar" in everything.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(everything.get_data())) as tar:
        assert sorted(tar.getnames()) == ["api-2.0.0.tgz", "worker-1.10.1.tgz"]
        assert tar.extractfile("api-2.0.0.tgz").read() == archive
        assert tar.extractfile("worker-1.10.1.tgz").read() == worker


def create_with_defaults(client, cat, name: str, chart_versions: dict[str, str] | None = None):
    """Walk the three steps keeping the environment's values; return Create's response."""
    html = to_step_2(client, cat, name)
    response = client.post(step_url(cat, 2), data=step_2_data(cat, html, "next"))
    assert response.status_code == 302, text(response)
    page = client.post(
        step_url(cat, 3),
        data={
            "registry_id": cat.registry_id,
            "chart_registry_id": cat.registry_id,
            "action": "registry",
        },
    )
    post = images_post(
        text(page), "create", registry_id=cat.registry_id, chart_registry_id=cat.registry_id
    )
    for index, (service, service_id) in enumerate(cat.service_ids.items()):
        post[f"charts-{index}-service_id"] = str(service_id)
        post[f"charts-{index}-version"] = (chart_versions or {}).get(service, "")
    return client.post(step_url(cat, 3), data=post)


def test_a_lint_failure_fails_one_chart_with_its_messages_and_retry_redoes_only_it(
    app, tester, registry, second_registry
):
    source = f"{registry.address}/analytics/db-api"
    cat = make_helm_catalog(
        app,
        registry.address,
        second_registry.address,
        {
            "db-api": {"chart": chart_needing_db_host("db-api", "0.1.0", source, "1.0")},
            "web": {},
        },
    )
    created = create_with_defaults(tester, cat, "lint-1")
    assert created.status_code == 302, text(created)
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status == VersionStatus.FAILED
        charts = {s.name: s for s in version.charts}
        assert charts["db-api"].chart_status == ChartStatus.FAILED
        assert "Helm lint failed" in charts["db-api"].chart_error
        assert "db.host is required" in charts["db-api"].chart_error
        assert charts["db-api"].chart_reference is None
        assert charts["web"].chart_status == ChartStatus.DONE
        assert "1 of 2 charts failed: db-api: Helm lint failed" in version.error
        web_digest, web_manifest = charts["web"].chart_digest, charts["web"].chart_manifest_digest
        copied = {i.id: i.ended_at for i in version.images}
        assert all(i.status == ImageStatus.DONE for i in version.images)
        version_id = version.id
        # The chart is fixed in the catalog: the retry packages it again.
        service = db.session.get(Service, cat.service_ids["db-api"])
        service.chart_archive = build_chart_archive(
            "db-api", "0.1.0", image_repository=source, image_tag="1.0"
        )
        db.session.commit()
    page = text(tester.get(f"/versions/{version_id}"))
    assert "db.host is required" in page and "Retry failed charts and images" in page
    assert "db-api: values.yaml" in page

    assert tester.post(f"/versions/{version_id}/retry").status_code == 302
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.get(Version, version_id)
        assert version.status == VersionStatus.SUCCESS, version.error
        charts = {s.name: s for s in version.charts}
        assert charts["db-api"].chart_status == ChartStatus.DONE
        assert charts["db-api"].chart_error is None
        assert charts["db-api"].chart_reference.endswith(f"/{cat.charts_path}/db-api:1.0.0")
        # What succeeded the first time was left alone.
        assert (charts["web"].chart_digest, charts["web"].chart_manifest_digest) == (
            web_digest,
            web_manifest,
        )
        assert {i.id: i.ended_at for i in version.images} == copied


def test_global_variables_reset_restores_the_values_from_before_apply(tester, helm_cat):
    cat = helm_cat
    html = to_step_2(tester, cat, "globals-1")
    before = values_rows(html)
    api_id, worker_id = str(cat.service_ids["api"]), str(cat.service_ids["worker"])
    hx = {"HX-Request": "true", "HX-Target": "helm-values"}
    block = "logLevel: debug\nonlyHere: 1\n"
    applied = tester.post(
        step_url(cat, 2),
        data=step_2_data(cat, html, "apply_globals", globals_yaml=block),
        headers=hx,
    )
    assert applied.status_code == 200
    after = values_rows(text(applied))
    assert "logLevel: debug" in after[api_id] and "logLevel: debug" in after[worker_id]
    assert "onlyHere" not in after[api_id] + after[worker_id]
    # A second Apply changes nothing more; Reset still goes back to before the first.
    again = tester.post(
        step_url(cat, 2),
        data=step_2_data(cat, text(applied), "apply_globals", globals_yaml="logLevel: warn\n"),
        headers=hx,
    )
    assert "logLevel: warn" in values_rows(text(again))[api_id]
    reset = tester.post(
        step_url(cat, 2), data=step_2_data(cat, text(again), "reset_globals"), headers=hx
    )
    assert reset.status_code == 200
    assert values_rows(text(reset)) == before
    assert "Vary" in reset.headers and "HX-Request" in reset.headers["Vary"]


@pytest.mark.parametrize(
    "globals_yaml,message",
    [("- a\n- b\n", "must be a YAML mapping"), ("a: [1,\n", "not valid YAML")],
)
def test_unusable_global_variables_are_refused(tester, helm_cat, globals_yaml, message):
    html = to_step_2(tester, helm_cat, "globals-bad")
    response = tester.post(
        step_url(helm_cat, 2),
        data=step_2_data(helm_cat, html, "apply_globals", globals_yaml=globals_yaml),
        headers={"HX-Request": "true", "HX-Target": "helm-values"},
    )
    assert response.status_code == 422
    assert message in text(response)
    assert values_rows(text(response)) == values_rows(html)


@pytest.mark.parametrize(
    "values,message",
    [
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("image: [unclosed\n", "not valid YAML"),
        ("x: 1\nx: 2\n", "appears twice"),
        ("big: '" + "x" * (600 * 1024) + "'\n", "larger than"),
        ("replicaCount: 1\n", "The values have no key &#39;image&#39;."),  # image path gone
        ("image:\n  repository: a.example/b\n  tag: ''\n", "leave the tag of image.repository"),
    ],
)
def test_unusable_values_keep_the_form_on_step_2(tester, helm_cat, values, message):
    html = to_step_2(tester, helm_cat, "values-bad")
    data = step_2_data(helm_cat, html, "next")
    data["values-0-values"] = values
    response = tester.post(step_url(helm_cat, 2), data=data)
    assert response.status_code == 422
    assert message in text(response)


def test_chart_repository_and_chart_versions_are_checked(tester, helm_cat):
    cat = helm_cat
    html = to_step_2(tester, cat, "charts-bad")
    assert tester.post(step_url(cat, 2), data=step_2_data(cat, html, "next")).status_code == 302
    page = tester.post(
        step_url(cat, 3), data={"registry_id": cat.registry_id, "action": "registry"}
    )
    post = images_post(text(page), "create", registry_id=cat.registry_id, chart_registry_id=0)
    post.update({"charts-0-service_id": str(cat.service_ids["api"]), "charts-0-version": "1.2"})
    response = tester.post(step_url(cat, 3), data=post)
    assert response.status_code == 422
    assert "Choose the chart repository." in text(response)
    assert "is not a SemVer 2 version" in text(response)
    with tester.application.app_context():
        assert db.session.scalars(select(Version)).all() == []


def test_a_bad_target_typed_in_step_3_does_not_break_step_2(tester, helm_cat):
    cat = helm_cat
    html = to_step_2(tester, cat, "bad-target")
    assert tester.post(step_url(cat, 2), data=step_2_data(cat, html, "next")).status_code == 302
    fields = {"registry_id": cat.registry_id, "chart_registry_id": cat.registry_id}
    page = tester.post(step_url(cat, 3), data={**fields, "action": "registry"})
    post = images_post(text(page), "create", **fields)
    post["images-0-repository"] = "Not A Repository"
    refused = tester.post(step_url(cat, 3), data=post)
    assert refused.status_code == 422
    assert "Write host[:port]/path in lower case" in text(refused)
    back = tester.get(step_url(cat, 2))
    assert back.status_code == 200
    assert "values.yaml of api" in text(back)


def test_a_chart_version_already_in_the_repository_is_never_replaced(app, tester, helm_cat):
    cat = helm_cat
    assert create_with_defaults(tester, cat, "first").status_code == 302
    run_queued_jobs(app)
    with app.app_context():
        api = next(s for s in db.session.scalars(select(Version)).one().charts if s.name == "api")
        assert api.chart_version == "1.0.0"
        reference, archive = api.chart_reference, api.chart_archive
    again = create_with_defaults(tester, cat, "second", {"api": "1.0.0"})
    assert again.status_code == 302, text(again)
    run_queued_jobs(app)
    with app.app_context():
        second = db.session.scalars(select(Version).where(Version.name == "second")).one()
        charts = {s.name: s for s in second.charts}
        assert second.status == VersionStatus.FAILED
        assert charts["api"].chart_status == ChartStatus.FAILED
        assert "Chart api 1.0.0 is already in oci://" in charts["api"].chart_error
        # Refused before any push: worker's chart did not go up either.
        assert charts["worker"].chart_status == ChartStatus.FAILED
        assert "Not pushed" in charts["worker"].chart_error
    assert pull_chart(reference, plain_http=True) == archive  # the first push stands


def test_edits_stay_with_their_environment_and_apply_works_without_javascript(
    app, tester, helm_cat
):
    cat = helm_cat
    with app.app_context():
        from webapp.models import Environment, EnvironmentService

        dev = db.session.get(Environment, cat.environment_id)
        staging = Environment(project_id=cat.project_id, name="staging", namespace="an-staging")
        for row in dev.deployed:
            values = row.values_yaml.replace("logLevel: info", "logLevel: warn")
            staging.deployed.append(
                EnvironmentService(service_id=row.service_id, values_yaml=values)
            )
        db.session.add(staging)
        db.session.commit()
        staging_id = staging.id
    html = to_step_2(tester, cat, "envs-1")
    data = step_2_data(cat, html, "apply_globals", globals_yaml="logLevel: debug\n")
    page = tester.post(step_url(cat, 2), data=data)  # no htmx: the whole page comes back
    assert page.status_code == 200
    assert "New version of Analytics" in text(page)
    assert all("logLevel: debug" in v for v in values_rows(text(page)).values())
    switched = step_2_data(cat, text(page), "environment")
    switched["environment_id"] = staging_id
    page = tester.post(step_url(cat, 2), data=switched)
    assert page.status_code == 200
    rows = values_rows(text(page))
    assert len(rows) == 2 and all("logLevel: warn" in v for v in rows.values())
    assert "Applied:" not in text(page)


def test_create_from_a_helm_version_keeps_its_services_registry_and_chart_repository(
    app, tester, helm_cat
):
    cat = helm_cat
    assert create_with_defaults(tester, cat, "first").status_code == 302
    run_queued_jobs(app)
    with app.app_context():
        first = db.session.scalars(select(Version)).one()
        first_id, repository = first.id, first.chart_repository
    assert "Create from this version" in text(tester.get(f"/versions/{first_id}"))
    assert tester.post(f"/versions/{first_id}/copy").status_code == 302
    assert tester.post(step_url(cat, 1), data={"name": "second", "action": "next"}).status_code == (
        302
    )
    page = text(tester.get(step_url(cat, 2)))
    assert len(values_rows(page)) == 2
    assert tester.post(step_url(cat, 2), data=step_2_data(cat, page, "next")).status_code == 302
    page = text(tester.get(step_url(cat, 3)))
    assert f'<option selected value="{cat.registry_id}">prod-registry (oci://' in page
    fields = {"registry_id": cat.registry_id, "chart_registry_id": cat.registry_id}
    assert tester.post(
        step_url(cat, 3), data=images_post(page, "create", **fields)
    ).status_code == (302)
    run_queued_jobs(app)
    with app.app_context():
        second = db.session.scalars(select(Version).where(Version.name == "second")).one()
        assert second.status == VersionStatus.SUCCESS, second.error
        assert second.created_from_id == first_id
        assert second.chart_repository == repository
        assert sorted(c.chart_version for c in second.charts) == ["1.0.1", "1.0.1"]


def test_global_variables_not_applied_missing_keys_and_reset_keeping_later_edits(tester, helm_cat):
    """Typed-but-not-applied is flagged at Next; keys no service has can be added to all;
    Reset keeps an editor changed after Apply and says so."""
    cat = helm_cat
    html = to_step_2(tester, cat, "globals-2")
    before = values_rows(html)
    api_id, worker_id = str(cat.service_ids["api"]), str(cat.service_ids["worker"])
    hx = {"HX-Request": "true", "HX-Target": "helm-values"}
    # Typed, not applied: Next stays on step 2 and says why.
    typed = tester.post(
        step_url(cat, 2), data=step_2_data(cat, html, "next", globals_yaml="logLevel: debug\n")
    )
    assert typed.status_code == 422
    assert "These global variables are not applied" in text(typed)
    # Apply: a key no service has is listed, with the explicit choice to add it everywhere.
    block = "logLevel: debug\nfeatureFlags:\n  beta: true\n"
    applied = tester.post(
        step_url(cat, 2),
        data=step_2_data(cat, html, "apply_globals", globals_yaml=block),
        headers=hx,
    )
    fragment = text(applied)
    assert re.search(r"No service has this key.*<code>featureFlags</code>", fragment, re.S)
    assert "featureFlags" not in "".join(values_rows(fragment).values())
    everywhere = tester.post(
        step_url(cat, 2),
        data=step_2_data(cat, fragment, "apply_globals_everywhere", globals_yaml=block),
        headers=hx,
    )
    rows = values_rows(text(everywhere))
    assert "featureFlags:\n  beta: true" in rows[api_id]
    assert "featureFlags:\n  beta: true" in rows[worker_id]
    assert "No service has" not in text(everywhere)
    # An edit to worker after Apply survives Reset, with a warning.
    data = step_2_data(cat, text(everywhere), "reset_globals", globals_yaml=block)
    worker_index = list(rows).index(worker_id)
    edited = rows[worker_id].replace("replicaCount: 1", "replicaCount: 5")
    data[f"values-{worker_index}-values"] = edited
    reset = tester.post(step_url(cat, 2), data=data, headers=hx)
    after = values_rows(text(reset))
    assert after[api_id] == before[api_id]  # untouched since Apply: back to before
    assert after[worker_id] == edited  # edited since Apply: kept
    assert "Reset kept the values of worker: it was edited after Apply" in text(reset)
    # Clearing the block lets the form move on.
    cleared = tester.post(
        step_url(cat, 2), data=step_2_data(cat, text(reset), "next", globals_yaml="")
    )
    assert cleared.status_code == 302, text(cleared)
