"""Versions through the API: created from an environment, copied by the real worker into a
real registry, read back with their digests; the form's rules; Idempotency-Key."""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import func, select

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.webapp.api.conftest import bearer, issue_token
from tests.webapp.test_releases import images  # noqa: F401  (real images in the registry)
from tests.webapp.version_fixtures import make_version_catalog
from webapp.extensions import db
from webapp.models import AuditEvent, Version

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def cat(app, registry, images):  # noqa: F811
    return make_version_catalog(
        app,
        registry.address,
        {
            "cart": {"cart": images[("cart", "1.0")]},
            "web": {"web": images[("web", "1.0")], "api": images[("api", "2.0")]},
        },
        order={"cart": 1, "web": 2},
    )


@pytest.fixture
def tester(app):
    return bearer(issue_token(app, "tester", ["read", "versions:write"]))


def manifest_digest(registry, repository: str, tag: str) -> str:
    response = requests.head(
        f"http://{registry.address}/v2/{repository}/manifests/{tag}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.oci.image.index.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
        timeout=10,
    )
    assert response.status_code == 200, response.status_code
    return response.headers["Docker-Content-Digest"]


def test_create_a_version_wait_for_it_and_read_its_digests(app, client, cat, tester, registry):
    body = {
        "name": "v1.0",
        "environment_id": cat.environment_id,
        "registry_id": cat.registry_id,
        "labels": ["sprint-12"],
        "tag": "build-7",
        "images": {"web/api": {"tag": "api-2"}},
    }
    response = client.post(f"/api/v1/projects/{cat.project_id}/versions", json=body, headers=tester)
    assert response.status_code == 202, response.json
    location = response.headers["Location"]
    created = response.json
    assert location == created["url"] == f"/api/v1/versions/{created['id']}"
    assert created["status"] == "creating" and created["created_by"] == "tester"
    assert [s["name"] for s in created["services"]] == ["cart", "web"]  # startup order

    run_queued_jobs(app)
    version = client.get(location, headers=tester).json
    assert version["status"] == "success", version
    images_out = {i["container"]: i for s in version["services"] for i in s["images"]}
    assert images_out["api"]["target_ref"] == f"{registry.address}/prod/api:api-2"
    assert images_out["cart"]["target_ref"] == f"{registry.address}/prod/cart:build-7"
    assert images_out["web"]["target_ref"] == f"{registry.address}/prod/web:build-7"
    for container, image in images_out.items():
        assert image["status"] == "done", container
        assert image["target_digest"].startswith("sha256:")
        # Copied byte for byte: the target's manifest digest is the source's.
        assert image["target_digest"] == image["source_digest"]
    assert images_out["cart"]["target_digest"] == manifest_digest(registry, "prod/cart", "build-7")
    assert images_out["api"]["target_digest"] == manifest_digest(registry, "prod/api", "api-2")

    listed = client.get(
        f"/api/v1/projects/{cat.project_id}/versions?label=sprint-12&status=success",
        headers=tester,
    ).json
    assert [v["name"] for v in listed["items"]] == ["v1.0"] and listed["total"] == 1
    beyond = client.get(
        f"/api/v1/projects/{cat.project_id}/versions?per_page=1&page=2", headers=tester
    ).json
    assert (beyond["items"], beyond["total"], beyond["pages"], beyond["page"]) == ([], 1, 1, 2)
    found = client.get(f"/api/v1/projects/{cat.project_id}/versions?q=web", headers=tester).json
    assert [v["name"] for v in found["items"]] == ["v1.0"]  # found by a service's name
    assert (
        client.get(f"/api/v1/projects/{cat.project_id}/versions?label=nope", headers=tester).json[
            "items"
        ]
        == []
    )
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "create"))
        assert (event.username, event.object_name) == ("tester", "v1.0")
        assert event.detail == "project shop (API token ci)"


def test_idempotency_key_makes_one_version(app, client, cat, tester):
    body = {"name": "v2", "environment_id": cat.environment_id, "registry_id": cat.registry_id}
    url = f"/api/v1/projects/{cat.project_id}/versions"
    headers = {**tester, "Idempotency-Key": "build-4711"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json["id"] == first.json["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    with app.app_context():
        assert db.session.scalar(select(func.count(Version.id))) == 1
    # Without the key the same name is a conflict, said on the field.
    duplicate = client.post(url, json=body, headers=tester)
    assert duplicate.status_code == 409
    assert duplicate.json["field"] == "name" and "exists" in duplicate.json["error"]


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"name": "-bad"}, "name", "letters"),
        ({"services": ["cart", "ghost"]}, "services", "ghost"),
        ({"images": {"web/web": {"tag": ".bad"}}}, "images.web/web.tag", "tag"),
        ({"tag": "-bad"}, "images.cart/cart.tag", "tag"),
        ({"images": {"web/nope": {"tag": "x"}}}, "images.web/nope", "No image"),
        (
            {"images": {"cart/cart": {"repository": "elsewhere.example.com/x"}}},
            "images.cart/cart.repository",
            "target registry",
        ),
        ({"registry_id": 999}, "registry_id", "registry"),
        ({"environment_id": 999}, "environment_id", "environment"),
        ({"labels": ["ok", "not ok"]}, "labels.1", "pattern"),
        ({"colour": "blue"}, "colour", "Extra"),
    ],
)
def test_bad_requests_are_422_naming_the_field(app, client, cat, tester, change, field, message):
    body = {
        "name": "v3",
        "environment_id": cat.environment_id,
        "registry_id": cat.registry_id,
        **change,
    }
    response = client.post(f"/api/v1/projects/{cat.project_id}/versions", json=body, headers=tester)
    assert response.status_code == 422, response.json
    assert response.json["field"] == field
    assert message.lower() in response.json["error"].lower()
    with app.app_context():
        assert db.session.scalar(select(func.count(Version.id))) == 0


def test_retry_and_delete_follow_the_version_rules(app, client, cat, tester):
    body = {"name": "v4", "environment_id": cat.environment_id, "registry_id": cat.registry_id}
    created = client.post(
        f"/api/v1/projects/{cat.project_id}/versions", json=body, headers=tester
    ).json
    url = created["url"]
    # Still creating: neither retried nor deleted.
    assert client.post(f"{url}/retry", headers=tester).status_code == 409
    refused = client.delete(url, headers=tester)
    assert refused.status_code == 409 and "wait until it ends" in refused.json["error"]
    run_queued_jobs(app)
    assert client.post(f"{url}/retry", headers=tester).json["error"].startswith("Only a failed")
    assert client.delete(url, headers=tester).status_code == 204
    assert client.get(url, headers=tester).status_code == 404


def test_a_failed_version_is_retried_through_the_api(app, client, registry, tester):
    missing = f"{registry.address}/api-retry/cart:{uuid.uuid4().hex[:8]}"
    cat = make_version_catalog(app, registry.address, {"cart": {"cart": missing}})
    body = {"name": "v5", "environment_id": cat.environment_id, "registry_id": cat.registry_id}
    url = client.post(
        f"/api/v1/projects/{cat.project_id}/versions", json=body, headers=tester
    ).headers["Location"]
    run_queued_jobs(app)
    failed = client.get(url, headers=tester).json
    assert failed["status"] == "failed" and failed["services"][0]["images"][0]["error"]
    # The image shows up in the source registry; the retry copies it.
    repository, tag = missing.split("/", 1)[1].rsplit(":", 1)
    push_demo_image(registry.address, repository, tag, layer_sizes=(256,))
    retried = client.post(f"{url}/retry", headers=tester)
    assert retried.status_code == 202 and retried.json["status"] == "retrying"
    assert retried.headers["Location"] == url
    run_queued_jobs(app)
    done = client.get(url, headers=tester).json
    image = done["services"][0]["images"][0]
    assert done["status"] == "success" and image["target_digest"] == image["source_digest"]
