"""Releases never claim what did not happen: now running, retry after another release, restarts."""

# The release fixtures are imported below, so test arguments shadow them by design.
# ruff: noqa: F811

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.webapp.test_releases import (  # noqa: F401 - fixtures
    DEPLOY_FULL,
    DEPLOY_IMAGES,
    SERVICES,
    access,
    add_version,
    approval,
    decide,
    deploy_v1,
    images,
    live_images,
    make_workflow,
    release_row,
    shop,
    start,
)
from webapp.extensions import db
from webapp.models import AuditEvent, ReleaseStatus, Workflow

pytestmark = pytest.mark.timeout(120)


def page(client, release_id: int) -> str:
    return client.get(f"/releases/{release_id}").get_data(as_text=True)


def approve(client, auth, release_id: int) -> None:
    for name in ("approver1", "approver2"):
        assert decide(client, auth, release_id, name).status_code == 302
    run_queued_jobs(app_of(client))


def app_of(client):
    return client.application


def test_reject_after_deploy_says_what_runs_now(app, client, auth, shop, access, images):
    workflow_id = make_workflow(app, shop, [DEPLOY_FULL, approval(app)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    assert decide(client, auth, release_id, "approver1", "reject").status_code == 302
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.REJECTED
    assert "Version v2.0 stays deployed in prod (api, cart, web)" in release.message
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}
    html = page(client, release_id)
    assert (
        f'cart: now running: version v2.0 (<a href="/releases/{release_id}">'
        f"release #{release_id}</a>)" in html
    )
    assert "stays deployed in prod" in html
    env = client.get(f"/releases/environments/{shop.environment_id}").get_data(as_text=True)
    assert "Now running" in env
    version_link = f'<a href="/versions/{shop.versions["2.0"]}">v2.0</a>'
    assert f'<tr data-service="cart"><td>cart</td><td>{version_link}</td>' in env


def test_retry_after_a_rollback_deploys_again_before_it_can_pass(
    app, client, auth, shop, access, images
):
    workflow_id = make_workflow(app, shop, [DEPLOY_FULL, approval(app)])
    first = start(client, auth, workflow_id, shop.versions["1.0"])
    run_queued_jobs(app)
    approve(client, auth, first)
    assert release_row(app, first).status is ReleaseStatus.PASSED
    second = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    decide(client, auth, second, "approver1", "reject")
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}
    auth.logout()
    auth.login("release")
    rolled = client.post(f"/releases/{second}/rollback")
    rollback_id = int(rolled.headers["Location"].rsplit("/", 1)[1])
    run_queued_jobs(app)
    # By default a rollback waits at the same approval as any release.
    waiting = release_row(app, rollback_id)
    assert waiting.status is ReleaseStatus.WAITING_APPROVAL
    assert [s.status.value for s in waiting.stages] == ["passed", "waiting_approval"]
    approve(client, auth, rollback_id)
    assert release_row(app, rollback_id).status is ReleaseStatus.PASSED
    assert live_images(access, shop.namespace) == {n: images[(n, "1.0")] for n in SERVICES}

    auth.logout()
    auth.login("release")
    html = page(client, second)
    assert (
        f"Retry: release #{rollback_id} deployed to prod since, so the deploy stages run again."
        in html
    )
    assert client.post(f"/releases/{second}/retry").status_code == 302
    run_queued_jobs(app)
    again = release_row(app, second)
    assert again.status is ReleaseStatus.WAITING_APPROVAL
    assert [s.status.value for s in again.stages] == ["passed", "waiting_approval"]
    # The cluster runs #2's version again: the deploy really ran.
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}
    approve(client, auth, second)
    assert release_row(app, second).status is ReleaseStatus.PASSED
    assert "now running: version v2.0" in page(client, second)


def test_retry_after_a_failed_rollout_restarts_it(
    app, client, auth, shop, access, images, registry, sandbox_cluster
):
    deploy_v1(access, shop, images)
    late = f"late{time.monotonic_ns()}"
    missing = f"{registry.address}/shop/cart:{late}"
    version_id = add_version(app, shop.project_id, late, {"cart": missing})
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, version_id)
    run_queued_jobs(app)
    failed = release_row(app, release_id)
    assert failed.status is ReleaseStatus.FAILED
    assert "ErrImagePull" in failed.stages[0].services[0].message
    # The image is fixed in the registry; the retry must start new pods to see it.
    push_demo_image(registry.address, "shop/cart", late, layer_sizes=(512,))
    sandbox_cluster.clock.advance(3)  # the sandbox's kubelet caches a registry's answer 2 s
    auth.logout()
    auth.login("release")
    assert client.post(f"/releases/{release_id}/retry").status_code == 302
    run_queued_jobs(app)
    again = release_row(app, release_id)
    assert again.status is ReleaseStatus.PASSED, again.message
    assert live_images(access, shop.namespace)["cart"] == missing


def test_a_workflow_may_let_rollbacks_skip_approval_and_tests(
    app, client, auth, shop, access, images
):
    workflow_id = make_workflow(app, shop, [DEPLOY_FULL, approval(app)])
    auth.login("admin")
    page = client.get(f"/workflows/{workflow_id}").get_data(as_text=True)
    assert "wait at the approvals and run the tests, like any release" in page
    with app.app_context():
        env_id = db.session.get(Workflow, workflow_id).environment_id
    saved = client.post(
        f"/workflows/{workflow_id}/edit",
        data={"name": "prod", "environment_id": env_id, "rollbacks_skip_gates": "y"},
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    page = client.get(f"/workflows/{workflow_id}").get_data(as_text=True)
    assert "skip approval and tests: a rollback only redeploys" in page
    first = start(client, auth, workflow_id, shop.versions["1.0"])
    run_queued_jobs(app)
    approve(client, auth, first)
    second = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    decide(client, auth, second, "approver1", "reject")
    auth.logout()
    auth.login("release")
    rolled = client.post(f"/releases/{second}/rollback")
    rollback_id = int(rolled.headers["Location"].rsplit("/", 1)[1])
    run_queued_jobs(app)
    rollback = release_row(app, rollback_id)
    assert rollback.status is ReleaseStatus.PASSED
    assert [s.status.value for s in rollback.stages] == ["passed", "skipped"]
    assert live_images(access, shop.namespace) == {n: images[(n, "1.0")] for n in SERVICES}
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        details = [(e.action, e.detail) for e in events]
    assert ("update", "rollbacks skip approval and tests") in details
    assert any(
        action == "rollback" and "skips approval and tests" in (detail or "")
        for action, detail in details
    )


def test_cancel_after_deploy_says_the_version_stays_deployed(
    app, client, auth, shop, access, images
):
    workflow_id = make_workflow(app, shop, [DEPLOY_FULL, approval(app)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    assert client.post(f"/releases/{release_id}/cancel").status_code == 302
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.CANCELLED
    assert release.message.startswith("Cancelled by release.")
    assert "Version v2.0 stays deployed in prod (api, cart, web)" in release.message
    assert "ended cancelled" in release.message
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}


def test_retry_uses_the_settings_the_release_started_with_and_says_so(
    app, client, auth, shop, access, images
):
    from webapp.models import WorkflowStage

    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)  # images only, nothing runs yet: it fails
    assert release_row(app, release_id).status is ReleaseStatus.FAILED
    note = "Retry uses the settings this release started with; the workflow has changed since."
    assert note not in page(client, release_id)
    with app.app_context():  # an admin changes the workflow meanwhile
        stage = db.session.scalars(
            select(WorkflowStage).where(WorkflowStage.workflow_id == workflow_id)
        ).one()
        stage.settings = {**stage.settings, "content": "full"}
        db.session.commit()
    assert note in page(client, release_id)
    deploy_v1(access, shop, images)
    assert client.post(f"/releases/{release_id}/retry").status_code == 302
    run_queued_jobs(app)
    again = release_row(app, release_id)
    assert again.status is ReleaseStatus.PASSED
    assert again.stages[0].settings["content"] == "images"
