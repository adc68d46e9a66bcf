"""A Helm service's chart pulled from an OCI chart repository of the catalog (a job)."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from jobs.helm.charts import package_chart
from jobs.helm.repository import push_chart
from sandbox.charts import build_chart_archive
from tests.helpers import run_queued_jobs
from tests.webapp.version_fixtures import text
from webapp.extensions import db
from webapp.models import JobRun, JobStatus, Project, ProjectKind, Registry, Service

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def project_id(app):
    with app.app_context():
        project = Project(key="charts", name="Charts", kind=ProjectKind.HELM)
        db.session.add(project)
        db.session.commit()
        return project.id


def publish(address: str, path: str, *, auth: tuple[str, str] | None = None) -> bytes:
    """Push chart ``api`` 1.4.0 to ``address/path``; return the pushed archive."""
    source = build_chart_archive("api", "0.1.0", image_repository="src.example/api", image_tag="7")
    packaged = package_chart(
        source,
        values={"image": {"repository": "src.example/api", "tag": "7"}, "service": {"port": 80}},
        version="1.4.0",
        app_version="7",
    )
    user, password = auth or (None, None)
    push_chart(packaged, f"{address}/{path}", username=user, password=password, plain_http=True)
    return packaged.archive


def test_a_service_chart_is_pulled_with_the_catalog_registry_credentials(
    app, client, auth, project_id, auth_registry
):
    archive = publish(auth_registry.address, "pulled", auth=("slipway", "s3cret-pw"))
    with app.app_context():
        db.session.add(
            Registry(
                name="charts",
                address=auth_registry.address,
                plain_http=True,
                username="slipway",
                password="s3cret-pw",
            )
        )
        db.session.commit()
    auth.login("admin")
    reference = f"oci://{auth_registry.address}/pulled/api:1.4.0"
    response = client.post(
        f"/catalog/projects/{project_id}/services/new",
        data={"name": "api", "order_group": 1, "chart_reference": reference},
    )
    assert response.status_code == 302, text(response)
    run_queued_jobs(app)
    with app.app_context():
        service = db.session.scalars(select(Service)).one()
        run = db.session.scalars(select(JobRun)).one()
        assert run.status == JobStatus.SUCCEEDED, run.error
        assert "s3cret-pw" not in (run.title + (run.result or ""))
        assert service.chart_archive == archive
        assert (service.chart_name, service.chart_version) == ("api", "1.4.0")
        assert "tag: '7'" in service.default_values
        service_id = service.id
    page = text(client.get(f"/catalog/services/{service_id}"))
    assert "api 1.4.0" in page and "image.repository+image.tag" in page


@pytest.mark.parametrize(
    "reference,message",
    [
        ("127.0.0.1:5000/charts/api:1.0.0", "oci://host[:port]/path/name:version"),
        ("oci://127.0.0.1:5000/charts/api", "oci://host[:port]/path/name:version"),
        ("oci://127.0.0.1:5000/charts/api:latest", "not a SemVer 2 version"),
        ("", "Upload the service&#39;s chart (.tgz) or name one to pull."),
    ],
)
def test_bad_chart_references_are_refused(app, client, auth, project_id, reference, message):
    auth.login("admin")
    response = client.post(
        f"/catalog/projects/{project_id}/services/new",
        data={"name": "api", "order_group": 1, "chart_reference": reference},
    )
    assert response.status_code == 422
    assert html.unescape(message) in html.unescape(text(response))
    with app.app_context():
        assert db.session.scalars(select(Service)).all() == []


def test_a_chart_that_cannot_be_pulled_fails_the_job_and_leaves_the_service_without_chart(
    app, client, auth, project_id, registry
):
    with app.app_context():
        db.session.add(Registry(name="src", address=registry.address, plain_http=True))
        db.session.commit()
    auth.login("admin")
    reference = f"oci://{registry.address}/nowhere/api:9.9.9"
    response = client.post(
        f"/catalog/projects/{project_id}/services/new",
        data={"name": "api", "order_group": 1, "chart_reference": reference},
    )
    assert response.status_code == 302
    run_queued_jobs(app)
    with app.app_context():
        run = db.session.scalars(select(JobRun)).one()
        assert run.status == JobStatus.FAILED
        assert "pulling chart" in run.error and "not found" in run.error.lower()
        service = db.session.scalars(select(Service)).one()
        assert service.chart_name is None and service.chart_archive is None
    assert "No chart yet" in text(client.get(f"/catalog/services/{service.id}"))
