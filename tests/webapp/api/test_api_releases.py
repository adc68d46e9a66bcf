"""Releases through the API against the sandbox cluster: start with one token, approve with a
second user's, watch it pass; the no-self-approval rule, scopes, reject, retry, cancel."""

from __future__ import annotations

import pytest

from tests.helpers import run_queued_jobs
from tests.webapp.api.conftest import bearer, issue_token
from tests.webapp.test_releases import (  # noqa: F401  (fixtures)
    DEPLOY_IMAGES,
    SERVICES,
    access,
    approval,
    deploy_v1,
    images,
    live_images,
    make_workflow,
    shop,
)

pytestmark = pytest.mark.timeout(120)


def start(client, token: dict, workflow_id: int, version_id: int, **headers):
    return client.post(
        "/api/v1/releases",
        json={"workflow_id": workflow_id, "version_id": version_id},
        headers={**token, **headers},
    )


def test_start_approve_with_a_second_users_token_and_pass(
    app,
    client,
    shop,  # noqa: F811
    access,  # noqa: F811
    images,  # noqa: F811
):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES, approval(app, needed=1)])
    requester = bearer(issue_token(app, "approver1"))
    second = bearer(issue_token(app, "approver2", ["read", "approve"]))

    workflow = client.get(f"/api/v1/workflows/{workflow_id}", headers=second).json
    assert [s["kind"] for s in workflow["stages"]] == ["deploy", "approval"]
    assert workflow["stages"][1]["approvals_needed"] == 1

    response = start(client, requester, workflow_id, shop.versions["2.0"])
    assert response.status_code == 202, response.json
    url = response.headers["Location"]
    assert response.json["status"] == "queued" and response.json["requested_by"] == "approver1"

    run_queued_jobs(app)
    release = client.get(url, headers=second).json
    assert release["status"] == "waiting_approval"
    assert release["waiting_stage"] == "Manual approval 2"
    deploy = release["stages"][0]
    assert deploy["status"] == "passed"
    assert {s["name"]: s["status"] for s in deploy["services"]} == dict.fromkeys(SERVICES, "passed")

    # The requester's own token may not approve: the token acts as its user.
    own = client.post(f"{url}/approve", json={"comment": "mine"}, headers=requester)
    assert own.status_code == 403 and "You started this release" in own.json["error"]
    # A token without the approve scope may not either, whoever holds it.
    no_scope = bearer(issue_token(app, "approver3", ["read", "releases:write"]))
    refused = client.post(f"{url}/approve", json={}, headers=no_scope)
    assert refused.status_code == 403 and "approve" in refused.json["error"]

    approved = client.post(f"{url}/approve", json={"comment": "dashboards green"}, headers=second)
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "running"
    decision = approved.json["stages"][1]["decisions"][0]
    assert (decision["username"], decision["decision"], decision["comment"]) == (
        "approver2",
        "approve",
        "dashboards green",
    )
    run_queued_jobs(app)
    release = client.get(url, headers=second).json
    assert release["status"] == "passed" and release["finished"] is True
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}

    # What runs where: the environment says which version each service runs now.
    state = client.get(f"/api/v1/environments/{shop.environment_id}", headers=second).json
    assert {s["name"]: s["version"] for s in state["services"]} == dict.fromkeys(SERVICES, "v2.0")
    assert state["locked_by_release_id"] is None
    listed = client.get(
        f"/api/v1/releases?environment_id={shop.environment_id}&status=passed", headers=second
    ).json
    assert [r["id"] for r in listed["items"]] == [release["id"]]


def test_reject_retry_and_cancel(app, client, shop):  # noqa: F811
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_engineer = bearer(issue_token(app, "release"))
    approver = bearer(issue_token(app, "approver2", ["read", "approve"]))
    url = start(client, release_engineer, workflow_id, shop.versions["2.0"]).headers["Location"]
    run_queued_jobs(app)
    rejected = client.post(f"{url}/reject", json={"comment": "not today"}, headers=approver)
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    late = client.post(f"{url}/approve", json={}, headers=approver)
    assert late.status_code == 409 and "not waiting" in late.json["error"]

    retried = client.post(f"{url}/retry", headers=release_engineer)
    assert retried.status_code == 202 and retried.json["attempt"] == 2
    cancelled = client.post(f"{url}/cancel", headers=release_engineer)
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["release"]["status"] == "cancelled"
    assert client.post(f"{url}/cancel", headers=release_engineer).status_code == 409
    # An approval-only workflow deploys nothing: no rollback through it.
    rollback = client.post(f"{url}/rollback", headers=release_engineer)
    assert rollback.status_code == 409 and "no deploy stage" in rollback.json["error"]


def test_who_may_start(app, client, shop):  # noqa: F811
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    version = shop.versions["2.0"]
    viewer = bearer(issue_token(app, "viewer"))
    assert start(client, viewer, workflow_id, version).status_code == 403
    # A test engineer runs only non-production workflows; this one is production.
    tester = bearer(issue_token(app, "tester"))
    refused = start(client, tester, workflow_id, version)
    assert refused.status_code == 403 and "non-production" in refused.json["error"]
    reader = bearer(issue_token(app, "release", ["read"]))
    assert "releases:write" in start(client, reader, workflow_id, version).json["error"]
    unknown = start(client, bearer(issue_token(app, "release")), workflow_id, 9999)
    assert unknown.status_code == 422 and unknown.json["field"] == "version_id"


def test_idempotency_key_starts_one_release_and_belongs_to_one_request(app, client, shop):  # noqa: F811
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    token = bearer(issue_token(app, "release"))
    key = {"Idempotency-Key": "pipeline-77"}
    first = start(client, token, workflow_id, shop.versions["2.0"], **key)
    again = start(client, token, workflow_id, shop.versions["2.0"], **key)
    assert first.status_code == again.status_code == 202
    assert first.json["id"] == again.json["id"]
    assert client.get("/api/v1/releases", headers=token).json["total"] == 1
    elsewhere = client.post(
        f"/api/v1/projects/{shop.project_id}/versions",
        json={"name": "x", "environment_id": shop.environment_id, "registry_id": 1},
        headers={**bearer(issue_token(app, "admin")), **key},
    )
    # Keys are per user: the admin's same key is a new request (refused here for its body).
    assert elsewhere.status_code == 422


def test_rollback_redeploys_the_last_passed_earlier_version(
    app,
    client,
    shop,  # noqa: F811
    access,  # noqa: F811
    images,  # noqa: F811
):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    token = bearer(issue_token(app, "release"))
    urls = []
    for tag in ("1.0", "2.0"):
        urls.append(start(client, token, workflow_id, shop.versions[tag]).headers["Location"])
        run_queued_jobs(app)
        assert client.get(urls[-1], headers=token).json["status"] == "passed"
    response = client.post(f"{urls[1]}/rollback", headers=token)
    assert response.status_code == 202, response.json
    rollback = response.json
    assert rollback["is_rollback"] and rollback["version"] == "v1.0"
    assert rollback["rollback_of_id"] == int(urls[1].rsplit("/", 1)[1])
    assert response.headers["Location"] == rollback["url"] != urls[1]
    run_queued_jobs(app)
    assert client.get(rollback["url"], headers=token).json["status"] == "passed"
    assert live_images(access, shop.namespace) == {n: images[(n, "1.0")] for n in SERVICES}
