"""In Chromium: one release engineer starts a release, a second approves it, the timeline passes."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from jobs.kube import access as kube_access
from jobs.kube import cluster as kube
from sandbox.images import push_demo_image
from tests.browser.conftest import sign_in
from tests.webapp.samples import DEPLOYMENT_TEMPLATE
from webapp.extensions import db
from webapp.models import (
    Cluster,
    Environment,
    Project,
    ProjectKind,
    Service,
    StageKind,
    User,
    Version,
    VersionService,
    VersionStatus,
    Workflow,
    WorkflowStage,
)

pytestmark = pytest.mark.browser


def _setup(app, sandbox_cluster, registry) -> tuple[int, str, dict[str, str]]:
    """A shop whose cart runs 1.0, a version 2.0, and a deploy -> approval workflow."""
    access = kube_access.ClusterAccess(kubeconfig=sandbox_cluster.kubeconfig_text())
    namespace = f"br-{uuid.uuid4().hex[:8]}"
    images = {}
    for tag in ("1.0", "2.0"):
        push_demo_image(registry.address, "browser/cart", tag, layer_sizes=(256,))
        images[tag] = f"{registry.address}/browser/cart:{tag}"
    kube.apply_manifests(
        access,
        namespace,
        DEPLOYMENT_TEMPLATE.format(name="cart", image=images["1.0"]),
        create_namespace=True,
    )
    with app.app_context():
        cluster = Cluster(name="sandbox", kubeconfig=sandbox_cluster.kubeconfig_text())
        project = Project(key="shop", name="Shop", kind=ProjectKind.K8S_YAML)
        service = Service(
            project=project,
            name="cart",
            yaml_template=DEPLOYMENT_TEMPLATE.format(name="cart", image="x"),
        )
        env = Environment(
            project=project, name="prod", namespace=namespace, cluster=cluster, production=True
        )
        version = Version(project=project, name="v2.0", status=VersionStatus.SUCCESS)
        version.services.append(
            VersionService(
                service=service,
                name="cart",
                yaml=DEPLOYMENT_TEMPLATE.format(name="cart", image=images["2.0"]),
            )
        )
        approver = db.session.scalar(select(User).where(User.username == "release2"))
        workflow = Workflow(project=project, environment=env, name="to-prod")
        workflow.stages.append(
            WorkflowStage(
                position=1,
                kind=StageKind.DEPLOY,
                name="Deploy",
                settings={"content": "images", "timeout_seconds": 30},
            )
        )
        workflow.stages.append(
            WorkflowStage(
                position=2,
                kind=StageKind.APPROVAL,
                name="Go/no-go",
                settings={
                    "approver_ids": [approver.id],
                    "approvals_needed": 1,
                    "timeout_seconds": 600,
                    "instructions": "Look at the canary first.",
                },
            )
        )
        db.session.add_all([version, workflow])
        db.session.commit()
        return workflow.id, namespace, images


@pytest.mark.timeout(120)
def test_start_approve_in_another_browser_and_watch_it_pass(
    live_app, browser, page, sandbox_cluster, registry
):
    base = live_app.config["LIVE_URL"]
    workflow_id, namespace, images = _setup(live_app, sandbox_cluster, registry)

    sign_in(page, base, "release")
    page.get_by_role("link", name="Releases").click()
    page.get_by_role("button", name="Workflows").click()
    page.get_by_role("link", name="to-prod").click()
    page.get_by_role("heading", name="Workflow to-prod").wait_for()
    page.get_by_role("button", name="Start release").click()
    page.get_by_label("Version").select_option(label="v2.0")
    page.get_by_role("button", name="Start release").click()
    page.get_by_role("heading", name=re.compile(r"Release #\d+: v2.0 to prod")).wait_for()
    timeline = page.locator("#release-timeline")
    # Polling shows the deploy pass and the approval wait without a reload.
    timeline.locator('[data-service="cart"][data-status="passed"]').wait_for(timeout=30000)
    timeline.locator(".release-summary .release-status-waiting_approval").wait_for(timeout=30000)
    release_url = page.url

    approver_context = browser.new_context()
    try:
        approver = approver_context.new_page()
        approver.set_default_timeout(15000)
        sign_in(approver, base, "release2")
        approver.locator("#awaiting-approval").click()
        approver.get_by_role("heading", name="Awaiting my approval").wait_for()
        approver.get_by_role("link", name=re.compile(r"^Release #\d+$")).click()
        approver.wait_for_url(release_url)
        approver.get_by_text("Look at the canary first.").first.wait_for()
        approver.get_by_label("Comment").fill("canary is healthy")
        approver.get_by_role("button", name="Approve").click()
        approver.get_by_text("You approved release").wait_for()
    finally:
        approver_context.close()

    timeline.locator(".release-summary .release-status-passed").wait_for(timeout=30000)
    assert "release2" in timeline.inner_text() and "canary is healthy" in timeline.inner_text()
    live = {
        c.name: c.image
        for w in kube.read_workloads(
            kube_access.ClusterAccess(kubeconfig=sandbox_cluster.kubeconfig_text()), namespace
        )
        for c in w.containers
    }
    assert live == {"cart": images["2.0"]}
