"""Helm versions through the API: edited values and a chart version, packaged and pushed by
the real worker, the chart downloaded from the API; the form's checks on values and versions."""

from __future__ import annotations

import hashlib

import pytest
import yaml
from sqlalchemy import select

from tests.helpers import run_queued_jobs
from tests.webapp.api.conftest import bearer, issue_token
from tests.webapp.helm_version_fixtures import make_helm_catalog
from webapp.extensions import db
from webapp.models import EnvironmentService

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def helm_cat(app, registry, second_registry):
    return make_helm_catalog(
        app, registry.address, second_registry.address, {"api": {"extra": {"logLevel": "info"}}}
    )


@pytest.fixture
def tester(app):
    return bearer(issue_token(app, "tester", ["read", "versions:write"]))


def body(cat, **extra) -> dict:
    return {
        "name": "2026.12.1",
        "environment_id": cat.environment_id,
        "registry_id": cat.registry_id,
        "chart_registry_id": cat.registry_id,
        **extra,
    }


def test_a_helm_version_with_edited_values_is_packaged_and_downloadable(
    app, client, helm_cat, tester, second_registry
):
    cat = helm_cat
    state = client.get(f"/api/v1/environments/{cat.environment_id}", headers=tester).json
    assert state["services"][0]["chart_version"] == "0.1.0"
    with app.app_context():
        deployed = db.session.scalar(select(EnvironmentService.values_yaml))
    edited = yaml.safe_load(deployed)
    edited["logLevel"] = "debug"
    response = client.post(
        f"/api/v1/projects/{cat.project_id}/versions",
        json=body(cat, values={"api": yaml.safe_dump(edited)}, chart_versions={"api": "2.0.0"}),
        headers=tester,
    )
    assert response.status_code == 202, response.json
    run_queued_jobs(app)
    version = client.get(response.headers["Location"], headers=tester).json
    assert version["status"] == "success", version["error"]
    (service,) = version["services"]
    chart = service["chart"]
    assert (chart["name"], chart["version"], chart["status"]) == ("api", "2.0.0", "done")
    assert chart["reference"] == f"oci://{second_registry.address}/{cat.charts_path}/api:2.0.0"
    image = service["images"][0]
    assert image["target_digest"] == image["source_digest"]
    download = client.get(chart["download_url"], headers=tester)
    assert download.status_code == 200 and download.mimetype == "application/gzip"
    assert "sha256:" + hashlib.sha256(download.data).hexdigest() == chart["digest"]


@pytest.mark.parametrize(
    "extra,field,message",
    [
        ({"chart_versions": {"api": "two"}}, "chart_versions.api", "semver"),
        ({"values": {"api": "a: [unclosed"}}, "values.api", "yaml"),
        ({"values": {"ghost": "a: 1"}}, "values", "ghost"),
        ({"chart_registry_id": None}, "chart_registry_id", "chart repository"),
    ],
)
def test_bad_helm_inputs_are_422(client, helm_cat, tester, extra, field, message):
    response = client.post(
        f"/api/v1/projects/{helm_cat.project_id}/versions",
        json=body(helm_cat, **extra),
        headers=tester,
    )
    assert response.status_code == 422, response.json
    assert response.json["field"] == field
    assert message in response.json["error"].lower()
