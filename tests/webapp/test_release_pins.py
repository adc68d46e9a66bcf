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


def test_a_helm_deploy_pins_the_image_through_its_values_paths(
    app, client, auth, sandbox_cluster, access, registry
):
    import uuid

    from jobs.kube import cluster as kube
    from sandbox.charts import build_chart_archive
    from webapp.models import (
        Cluster,
        Environment,
        ProjectKind,
        Service,
        StageKind,
        Workflow,
        WorkflowStage,
    )

    namespace = f"hpin-{uuid.uuid4().hex[:8]}"
    kube.apply_manifests(access, namespace, [], create_namespace=True)
    repository = f"{registry.address}/hpin/ingest"
    digest = push_demo_image(registry.address, "hpin/ingest", "2.0", layer_sizes=(256,))
    chart = build_chart_archive("ingest", "1.1.0", image_repository=repository, image_tag="2.0")
    with app.app_context():
        cluster = Cluster(name=f"c-{namespace}", kubeconfig=sandbox_cluster.kubeconfig_text())
        project = Project(key=f"h-{namespace}", name="Data", kind=ProjectKind.HELM)
        ingest = Service(project=project, name="ingest", chart_name="ingest")
        env = Environment(project=project, name="prod", namespace=namespace, cluster=cluster)
        target = Registry(name=f"r-{namespace}", address=registry.address, plain_http=True)
        version = Version(
            project=project, name="2026.12", status=VersionStatus.SUCCESS, target_registry=target
        )
        item = VersionService(
            service=ingest,
            name="ingest",
            yaml="",
            chart_name="ingest",
            chart_version="1.1.0",
            chart_archive=chart,
            values_yaml=f"image:\n  repository: {repository}\n  tag: '2.0'\n",
            image_paths="image.repository+image.tag",
        )
        image = VersionImage(
            container="image.repository+image.tag",
            source_ref=f"{repository}:2.0",
            target_ref=f"{repository}:2.0",
            target_digest=digest,
            status=ImageStatus.DONE,
        )
        item.images.append(image)
        version.images.append(image)
        version.services.append(item)
        workflow = Workflow(project=project, environment=env, name="charts")
        workflow.stages.append(
            WorkflowStage(
                position=1,
                kind=StageKind.HELM_DEPLOY,
                name="Charts",
                settings={"timeout_seconds": 30},
            )
        )
        db.session.add_all([version, workflow])
        db.session.commit()
        workflow_id, version_id = workflow.id, version.id
    release_id = start(client, auth, workflow_id, version_id)
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED, release.message
    (workload,) = kube.read_workloads(access, namespace)
    assert workload.containers[0].image == f"{repository}:2.0@{digest}"
    (row,) = release.stages[0].services
    assert row.images == {"image.repository+image.tag": f"{repository}:2.0@{digest}"}
