"""Deploys run the digest the version recorded, and say when a tag has moved behind its back."""

# The release fixtures are imported below, so test arguments shadow them by design.
# ruff: noqa: F811

from __future__ import annotations

import time

import pytest

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.webapp.test_releases import (  # noqa: F401 - fixtures
    DEPLOY_FULL,
    DEPLOY_IMAGES,
    SERVICES,
    access,
    deploy_v1,
    images,
    live_images,
    make_workflow,
    manifest,
    release_row,
    shop,
    start,
)
from webapp.extensions import db
from webapp.models import (
    ImageStatus,
    Project,
    Registry,
    ReleaseStatus,
    Version,
    VersionImage,
    VersionService,
    VersionStatus,
)

pytestmark = pytest.mark.timeout(120)


def pinned_version(app, shop, registry_address: str, seed: str) -> tuple[int, dict[str, str]]:
    """A version whose images were copied to ``pins/<service>:<tag>``: id and digests."""
    tag = f"p{time.monotonic_ns()}"
    digests = {
        name: push_demo_image(
            registry_address, f"pins/{name}", tag, layer_sizes=(512,), seed=f"{seed}-{name}"
        )
        for name in SERVICES
    }
    with app.app_context():
        project = db.session.get(Project, shop.project_id)
        target = Registry(
            name=f"pins-{tag}", address=registry_address, namespace="pins", plain_http=True
        )
        version = Version(
            project=project,
            name=f"pinned-{tag}",
            status=VersionStatus.SUCCESS,
            target_registry=target,
        )
        for service in project.services:
            ref = f"{registry_address}/pins/{service.name}:{tag}"
            item = VersionService(
                service=service,
                name=service.name,
                order_group=service.order_group,
                yaml=manifest(service.name, ref),
            )
            image = VersionImage(
                container=service.name,
                source_ref=ref,
                target_ref=ref,
                target_digest=digests[service.name],
                status=ImageStatus.DONE,
            )
            item.images.append(image)
            version.images.append(image)
            version.services.append(item)
        db.session.add(version)
        db.session.commit()
        refs = {name: f"{registry_address}/pins/{name}:{tag}" for name in SERVICES}
        return version.id, {name: f"{refs[name]}@{digests[name]}" for name in SERVICES}


def test_a_deploy_names_the_recorded_digests(app, client, auth, shop, access, registry):
    version_id, pinned = pinned_version(app, shop, registry.address, "a")
    workflow_id = make_workflow(app, shop, [DEPLOY_FULL])
    release_id = start(client, auth, workflow_id, version_id)
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED, release.message
    assert live_images(access, shop.namespace) == pinned
    rows = {row.name: row.images for row in release.stages[0].services}
    assert rows["cart"] == {"cart": pinned["cart"]}
    assert pinned["cart"] in client.get(f"/releases/{release_id}").get_data(as_text=True)


def test_a_retagged_tag_deploys_the_pinned_digest_and_reports_the_drift(
    app, client, auth, shop, access, images, registry
):
    deploy_v1(access, shop, images)
    version_id, pinned = pinned_version(app, shop, registry.address, "b")
    # Someone pushes another image to cart's tag, behind Slipway's back.
    tag_ref, recorded = pinned["cart"].split("@")
    repository, tag = tag_ref.split("/", 1)[1].rsplit(":", 1)
    moved = push_demo_image(registry.address, repository, tag, layer_sizes=(512,), seed="moved")
    assert moved != recorded
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, version_id)
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.FAILED
    rows = {row.name: row for row in release.stages[0].services}
    assert rows["cart"].status.value == "failed"
    assert moved in rows["cart"].message and recorded in rows["cart"].message
    assert "deployed the recorded digest" in rows["cart"].message
    assert rows["web"].status.value == "passed"
    # The cluster runs what the version recorded, not what the tag now names.
    assert live_images(access, shop.namespace)["cart"] == pinned["cart"]
