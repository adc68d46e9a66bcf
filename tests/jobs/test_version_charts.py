"""The Helm half of the version job: catalog credentials, a lost job recovered by the reaper."""

# The web app's fixtures are imported below, so test arguments shadow them by design.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import select

from jobs.helm.repository import pull_chart
from tests.helpers import run_queued_jobs
from tests.webapp.helm_version_fixtures import make_helm_catalog, step_2_data, step_url, to_step_2
from tests.webapp.version_fixtures import images_post, text
from webapp.extensions import db
from webapp.models import JobRun, Registry, Version, VersionStatus
from webapp.models.versions import ChartStatus

pytestmark = pytest.mark.timeout(120)


def create(client, cat, name: str) -> None:
    """Through the form with defaults: every chart takes the suggested version."""
    html = to_step_2(client, cat, name)
    assert client.post(step_url(cat, 2), data=step_2_data(cat, html, "next")).status_code == 302
    fields = {"registry_id": cat.registry_id, "chart_registry_id": cat.registry_id}
    page = client.post(step_url(cat, 3), data={**fields, "action": "registry"})
    response = client.post(step_url(cat, 3), data=images_post(text(page), "create", **fields))
    assert response.status_code == 302, text(response)


def test_charts_go_to_a_password_protected_repository_with_the_catalog_credentials(
    app, client, auth, registry, auth_registry
):
    cat = make_helm_catalog(app, registry.address, auth_registry.address, {"api": {}})
    with app.app_context():
        row = db.session.get(Registry, cat.registry_id)
        row.username, row.password = "slipway", "s3cret-pw"
        db.session.commit()
    auth.login("tester")
    create(client, cat, "auth-1")
    with app.app_context():
        connection = Redis.from_url(app.config["REDIS_URL"])
        for run in db.session.scalars(select(JobRun)).all():
            job = Job.fetch(run.rq_id, connection=connection)
            assert "s3cret-pw" not in repr(job.args) + repr(job.kwargs)
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status == VersionStatus.SUCCESS, version.error
        chart = version.charts[0]
        reference, archive = chart.chart_reference, chart.chart_archive
        assert "s3cret-pw" not in " ".join(
            r.result or "" for r in db.session.scalars(select(JobRun))
        )
    assert reference == f"oci://{auth_registry.address}/{cat.charts_path}/api:1.0.0"
    pulled = pull_chart(reference, username="slipway", password="s3cret-pw", plain_http=True)
    assert pulled == archive


def test_a_chart_left_packaging_by_a_lost_job_is_redone_when_the_reaper_requeues_it(
    app, client, auth, registry, second_registry
):
    from webapp.jobruns.reaper import reap

    cat = make_helm_catalog(app, registry.address, second_registry.address, {"api": {}, "web": {}})
    auth.login("tester")
    create(client, cat, "lost-1")
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        first = version.job_run_id
        version.charts[0].chart_status = ChartStatus.PACKAGING  # the worker died here
        db.session.commit()
        Redis.from_url(app.config["REDIS_URL"]).flushdb()  # and Redis lost the job
        assert first in [run.id for run in reap()]
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status == VersionStatus.SUCCESS, version.error
        assert version.job_run_id != first
        assert [c.chart_status for c in version.charts] == [ChartStatus.DONE, ChartStatus.DONE]
        assert all(c.chart_reference.endswith(":1.0.0") for c in version.charts)
