"""Chart versions are immutable: step 3 and the job refuse one already in the repository."""

# The Helm version fixtures are imported below, so test arguments shadow them by design.
# ruff: noqa: F811

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from tests.helpers import run_queued_jobs
from tests.webapp.helm_version_fixtures import step_2_data, step_url, to_step_2
from tests.webapp.test_versions_helm import (  # noqa: F401 - fixtures
    helm_cat,
    seed_chart_versions,
    tester,
)
from tests.webapp.version_fixtures import images_post, text
from webapp.extensions import db
from webapp.models import Service, Version, VersionStatus
from webapp.models.versions import ChartStatus

pytestmark = pytest.mark.timeout(120)


def _step_3(app, tester, cat) -> str:
    html = to_step_2(tester, cat, "2026.12")
    assert tester.post(step_url(cat, 2), data=step_2_data(cat, html, "next")).status_code == 302
    page = tester.post(
        step_url(cat, 3),
        data={
            "registry_id": cat.registry_id,
            "chart_registry_id": cat.registry_id,
            "action": "registry",
        },
    )
    assert page.status_code == 200, text(page)
    return text(page)


def _create(tester, cat, page: str, api: str, worker: str):
    post = images_post(
        page, "create", registry_id=cat.registry_id, chart_registry_id=cat.registry_id
    )
    post.update(
        {
            "charts-0-service_id": str(cat.service_ids["api"]),
            "charts-0-version": api,
            "charts-1-service_id": str(cat.service_ids["worker"]),
            "charts-1-version": worker,
        }
    )
    return tester.post(step_url(cat, 3), data=post)


def _tags(address: str, repository: str) -> list[str]:
    answer = requests.get(f"http://{address}/v2/{repository}/tags/list", timeout=10)
    return answer.json().get("tags") or [] if answer.status_code == 200 else []


def _seed_worker(app, cat, second_registry, versions):
    with app.app_context():
        chart = db.session.get(Service, cat.service_ids["worker"]).chart_archive
    seed_chart_versions(
        app, f"{second_registry.address}/{cat.charts_path}", "worker", versions, chart
    )


def test_step_3_refuses_a_chart_version_already_in_the_repository(
    app, tester, helm_cat, second_registry
):
    cat = helm_cat
    _seed_worker(app, cat, second_registry, ["1.2.3"])
    page = _step_3(app, tester, cat)
    run_queued_jobs(app)  # the lookup of the charts' versions
    refused = _create(tester, cat, page, api="2.0.0", worker="1.2.3")
    assert refused.status_code == 422
    assert (
        f"Chart worker 1.2.3 is already in oci://{second_registry.address}/{cat.charts_path}"
        in text(refused)
    )
    build = _create(tester, cat, page, api="2.0.0+build.7", worker="")
    assert build.status_code == 422
    assert "build metadata" in text(build) and "&#39;2.0.0_build.7&#39;" in text(build)
    run_queued_jobs(app)
    with app.app_context():
        assert db.session.scalars(select(Version)).all() == []
    # Nothing was pushed: no api chart, no images, worker still holds only what was there.
    assert _tags(second_registry.address, f"{cat.charts_path}/api") == []
    assert _tags(second_registry.address, f"{cat.charts_path}/worker") == ["1.2.3"]
    assert _tags(second_registry.address, f"{cat.namespace}/api") == []


def test_the_job_refuses_a_chart_version_that_appeared_after_the_lookup_before_any_push(
    app, tester, helm_cat, second_registry
):
    cat = helm_cat
    page = _step_3(app, tester, cat)
    run_queued_jobs(app)  # the lookup finds no charts
    _seed_worker(app, cat, second_registry, ["1.2.3"])  # someone else pushes meanwhile
    created = _create(tester, cat, page, api="2.0.0", worker="1.2.3")
    assert created.status_code == 302, text(created)
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status == VersionStatus.FAILED
        charts = {s.name: s for s in version.charts}
        assert charts["worker"].chart_status == ChartStatus.FAILED
        assert "already in oci://" in charts["worker"].chart_error
        assert charts["api"].chart_status == ChartStatus.FAILED
        assert "Not pushed" in charts["api"].chart_error
    assert _tags(second_registry.address, f"{cat.charts_path}/api") == []
