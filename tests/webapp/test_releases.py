"""Releases against the sandbox cluster and a real registry: the full flow and its paths."""

from __future__ import annotations

import http.server
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import select

from jobs.kube import access as kube_access
from jobs.kube import cluster as kube
from jobs.kube.rollouts import wait_for_rollout
from sandbox.images import push_demo_image
from tests.helpers import PASSWORD_HASH, run_queued_jobs
from tests.webapp.samples import DEPLOYMENT_TEMPLATE
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Cluster,
    Environment,
    JobRun,
    JobStatus,
    Project,
    ProjectKind,
    Release,
    ReleaseService,
    ReleaseStatus,
    Role,
    Service,
    ServiceStatus,
    StageKind,
    StageStatus,
    User,
    Version,
    VersionService,
    VersionStatus,
    Workflow,
    WorkflowStage,
)
from webapp.models.base import utcnow

pytestmark = pytest.mark.timeout(120)

SERVICES = {"cart": 1, "web": 1, "api": 2}  # name -> startup order group


@pytest.fixture(scope="module")
def images(registry):
    """Real images in the registry: tags 1.0 and 2.0 of each service, and a crashing one."""
    refs = {}
    for name in SERVICES:
        for tag in ("1.0", "2.0"):
            push_demo_image(registry.address, f"shop/{name}", tag, layer_sizes=(512,))
            refs[(name, tag)] = f"{registry.address}/shop/{name}:{tag}"
    push_demo_image(registry.address, "shop/crashloop", "1", layer_sizes=(512,))
    refs["crash"] = f"{registry.address}/shop/crashloop:1"
    return refs


@pytest.fixture
def access(sandbox_cluster):
    return kube_access.ClusterAccess(kubeconfig=sandbox_cluster.kubeconfig_text())


@dataclass
class Shop:
    """A project, a production environment in its own namespace, and two versions."""

    project_id: int
    environment_id: int
    namespace: str
    versions: dict[str, int]


def manifest(name: str, image: str) -> str:
    return DEPLOYMENT_TEMPLATE.format(name=name, image=image)


def add_version(app, project_id: int, name: str, images: dict[str, str]) -> int:
    """A successful version whose services run ``images`` (service -> image)."""
    with app.app_context():
        project = db.session.get(Project, project_id)
        version = Version(project=project, name=name, status=VersionStatus.SUCCESS)
        for service in project.services:
            if service.name in images:
                version.services.append(
                    VersionService(
                        service=service,
                        name=service.name,
                        order_group=service.order_group,
                        yaml=manifest(service.name, images[service.name]),
                    )
                )
        db.session.add(version)
        db.session.commit()
        return version.id


@pytest.fixture
def shop(app, sandbox_cluster, access, images) -> Shop:
    namespace = f"rel-{uuid.uuid4().hex[:8]}"
    kube.apply_manifests(access, namespace, [], create_namespace=True)
    with app.app_context():
        cluster = Cluster(name=f"c-{namespace}", kubeconfig=sandbox_cluster.kubeconfig_text())
        project = Project(key=f"shop-{namespace}", name="Shop", kind=ProjectKind.K8S_YAML)
        for name, group in SERVICES.items():
            db.session.add(
                Service(
                    project=project,
                    name=name,
                    order_group=group,
                    yaml_template=manifest(name, images[(name, "1.0")]),
                )
            )
        env = Environment(
            project=project, name="prod", namespace=namespace, cluster=cluster, production=True
        )
        for username in ("approver1", "approver2", "approver3", "release2"):
            db.session.add(
                User(username=username, role=Role.RELEASE_ENGINEER, password_hash=PASSWORD_HASH)
            )
        db.session.add(env)
        db.session.commit()
        project_id, env_id = project.id, env.id
    versions = {
        tag: add_version(app, project_id, f"v{tag}", {n: images[(n, tag)] for n in SERVICES})
        for tag in ("1.0", "2.0")
    }
    return Shop(project_id, env_id, namespace, versions)


def deploy_v1(access, shop: Shop, images) -> None:
    """What runs before the release: every service at 1.0."""
    docs = "---\n".join(manifest(name, images[(name, "1.0")]) for name in SERVICES)
    kube.apply_manifests(access, shop.namespace, docs)
    wait_for_rollout(access, shop.namespace, [("Deployment", n) for n in SERVICES], timeout=20)


def live_images(access, namespace: str) -> dict[str, str]:
    return {c.name: c.image for w in kube.read_workloads(access, namespace) for c in w.containers}


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def make_workflow(app, shop: Shop, stages: list[tuple[StageKind, dict]], name="prod") -> int:
    """A workflow straight in the database (its forms are tested in test_workflows)."""
    with app.app_context():
        workflow = Workflow(
            project_id=shop.project_id, environment_id=shop.environment_id, name=name
        )
        for position, (kind, settings) in enumerate(stages, start=1):
            workflow.stages.append(
                WorkflowStage(
                    position=position, kind=kind, name=f"{kind.label} {position}", settings=settings
                )
            )
        db.session.add(workflow)
        db.session.commit()
        return workflow.id


DEPLOY_IMAGES = (StageKind.DEPLOY, {"content": "images", "timeout_seconds": 30})
DEPLOY_FULL = (StageKind.DEPLOY, {"content": "full", "timeout_seconds": 30})
TEST_PASSES = (
    StageKind.TEST,
    {
        "mode": "job",
        "image": "busybox:1.36",
        "command": "sh -c 'echo smoke ok'",
        "timeout_seconds": 30,
    },
)


def approval(app, needed: int = 2, **extra) -> tuple[StageKind, dict]:
    ids = [user_id(app, f"approver{n}") for n in (1, 2, 3)]
    settings = {
        "approver_ids": ids,
        "approver_roles": [],
        "approvals_needed": needed,
        "timeout_seconds": 3600,
        "instructions": "Check the dashboards first.",
        "allow_requester": False,
        **extra,
    }
    return StageKind.APPROVAL, settings


def start(client, auth, workflow_id: int, version_id: int, as_user: str = "release") -> int:
    auth.logout()
    auth.login(as_user)
    response = client.post(f"/releases/new/{workflow_id}", data={"version_id": version_id})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/releases/(\d+)$", response.headers["Location"]).group(1))


def decide(client, auth, release_id: int, username: str, verb: str = "approve", comment=""):
    auth.logout()
    auth.login(username)
    response = client.post(
        f"/releases/{release_id}/decision", data={verb: verb.capitalize(), "comment": comment}
    )
    return response


def pass_the_deadline(app, release_id: int) -> None:
    """Move the waiting approval's deadline (and its timeout job's start) into the past."""
    past = utcnow() - timedelta(seconds=1)
    with app.app_context():
        release = db.session.get(Release, release_id)
        release.waiting_stage().deadline_at = past
        for run in db.session.scalars(
            select(JobRun).where(
                JobRun.kind == "release_approval_timeout", JobRun.target_id == release_id
            )
        ):
            run.run_at = past
        db.session.commit()


def release_row(app, release_id: int) -> Release:
    with app.app_context():
        release = db.session.get(Release, release_id)
        for stage in release.stages:
            list(stage.services)
            list(stage.decisions)
        db.session.expunge_all()
        return release


def timeline(client, release_id: int):
    response = client.get(f"/releases/{release_id}/timeline")
    return response.status_code, response.get_data(as_text=True)


def flashes(client, url: str) -> str:
    return client.get(url).get_data(as_text=True)


# --- the full release ---------------------------------------------------------


def test_full_release_deploys_tests_and_passes_after_two_of_three_approvals(
    app, client, auth, shop, access, images
):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES, TEST_PASSES, approval(app)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    code, html = timeline(client, release_id)
    assert code == 200 and 'hx-trigger="every 1s"' in html and "queued" in html

    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.WAITING_APPROVAL
    deploy, test, wait = release.stages
    assert [s.status.value for s in release.stages] == ["passed", "passed", "waiting_approval"]
    assert {s.name: s.status.value for s in deploy.services} == {
        "api": "passed",
        "cart": "passed",
        "web": "passed",
    }
    groups = {s.name: (s.started_at, s.ended_at) for s in deploy.services}
    assert groups["api"][0] >= max(groups["cart"][1], groups["web"][1])  # group 2 after group 1
    assert "smoke ok" in test.log
    # The cluster runs the version's images already, before the approval.
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}

    code, html = timeline(client, release_id)
    assert code == 200 and "waiting approval" in html and "0 of 2 approvals" in html
    # A poll that saw this state gets an empty 204 until something changes.
    poll_url = re.search(r'hx-get="([^"]+seen=[0-9a-f]+)"', html).group(1).replace("&amp;", "&")
    unchanged = client.get(poll_url)
    assert unchanged.status_code == 204 and unchanged.data == b""
    # The named approvers see it in their list and the navigation count.
    auth.logout()
    auth.login("approver1")
    assert f"/releases/{release_id}" in client.get("/releases/awaiting").get_data(as_text=True)
    assert re.search(
        r'id="awaiting-approval">Awaiting my approval <span class="badge">1<',
        client.get("/").get_data(as_text=True),
    )

    assert (
        decide(client, auth, release_id, "approver1", comment="dashboards green").status_code == 302
    )
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL
    changed = client.get(poll_url)
    assert changed.status_code == 200 and "1 of 2 approvals" in changed.get_data(as_text=True)
    # Deciding twice is refused.
    decide(client, auth, release_id, "approver1")
    assert "You already decided" in client.get(f"/releases/{release_id}").get_data(as_text=True)

    decide(client, auth, release_id, "approver3", comment="ship it")
    assert release_row(app, release_id).status is ReleaseStatus.RUNNING
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED
    assert [d.username for d in release.stages[2].decisions] == ["approver1", "approver3"]

    code, html = timeline(client, release_id)
    assert code == 286 and "hx-trigger" not in html
    assert "approver1</strong> approved" in html and "“dashboards green”" in html
    assert "approver3</strong> approved" in html and "“ship it”" in html
    # The environment page says which version each service runs now, from the release.
    env_page = client.get(f"/catalog/environments/{shop.environment_id}").get_data(as_text=True)
    assert re.search(
        r'data-service="cart"><td>cart</td><td><a href="/versions/\d+">v2.0</a></td>', env_page
    )
    assert images[("cart", "2.0")] in env_page  # the recorded deployed state, read from the cluster
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "release")
        ).all()
    assert actions.count("approve") == 2 and "start_release" in actions


def test_approval_rules_tester_requester_and_non_approver(app, client, auth, shop, access, images):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"], as_user="approver1")
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL

    assert decide(client, auth, release_id, "tester").status_code == 403
    decide(client, auth, release_id, "approver1")  # the requester
    page = client.get(f"/releases/{release_id}").get_data(as_text=True)
    assert "You started this release" in page
    decide(client, auth, release_id, "release2")  # a release engineer not named
    assert "You are not an approver" in client.get(f"/releases/{release_id}").get_data(as_text=True)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL
    assert not release_row(app, release_id).stages[0].decisions


def test_requester_may_approve_when_the_stage_allows_it(app, client, auth, shop):
    workflow_id = make_workflow(app, shop, [approval(app, needed=1, allow_requester=True)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"], as_user="approver2")
    run_queued_jobs(app)
    decide(client, auth, release_id, "approver2")
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED


def test_a_role_named_as_approver_lets_any_of_its_members_approve(app, client, auth, shop):
    by_role = (
        StageKind.APPROVAL,
        {"approver_ids": [], "approver_roles": ["release_engineer"], "approvals_needed": 1},
    )
    release_id = start(client, auth, make_workflow(app, shop, [by_role]), shop.versions["2.0"])
    run_queued_jobs(app)
    assert decide(client, auth, release_id, "viewer").status_code == 403
    decide(client, auth, release_id, "admin")  # admins pass role checks, but are not named
    assert "You are not an approver" in client.get(f"/releases/{release_id}").get_data(as_text=True)
    decide(client, auth, release_id, "release2", comment="on call, looks fine")
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED
    assert [(d.username, d.comment) for d in release.stages[0].decisions] == [
        ("release2", "on call, looks fine")
    ]


# --- paths --------------------------------------------------------------------


def test_reject_ends_the_release_and_later_stages_do_not_run(
    app, client, auth, shop, access, images
):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [approval(app), DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    decide(client, auth, release_id, "approver2", verb="reject", comment="not during the sale")
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.REJECTED
    assert [s.status.value for s in release.stages] == ["rejected", "pending"]
    code, html = timeline(client, release_id)
    assert code == 286 and "approver2</strong> rejected" in html and "not during the sale" in html
    assert live_images(access, shop.namespace) == {n: images[(n, "1.0")] for n in SERVICES}


def test_approval_times_out_when_its_job_is_due(app, client, auth, shop):
    # A long timeout: "not due yet" must hold however slow the machine; the test then
    # moves the deadline into the past instead of waiting for it.
    workflow_id = make_workflow(app, shop, [approval(app, timeout_seconds=600)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL
    run_queued_jobs(app)  # not due yet: the dispatcher keeps the timeout job
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL
    pass_the_deadline(app, release_id)
    run_queued_jobs(app)  # due: sent to Redis and run, no RQ scheduler involved
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.TIMEOUT
    assert release.stages[0].status.value == "timeout"
    # A late approval is refused.
    decide(client, auth, release_id, "approver1")
    assert "not waiting for an approval" in client.get(f"/releases/{release_id}").get_data(
        as_text=True
    )


def test_a_failing_test_job_fails_the_release(app, client, auth, shop, access, images):
    deploy_v1(access, shop, images)
    failing = (StageKind.TEST, {**TEST_PASSES[1], "command": "sh -c 'echo checking; exit 1'"})
    workflow_id = make_workflow(app, shop, [failing, approval(app)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.FAILED
    assert [s.status.value for s in release.stages] == ["failed", "pending"]
    assert "the test Job failed" in release.stages[0].message


def test_crashloop_image_fails_the_deploy_with_the_pods_message(
    app, client, auth, shop, access, images
):
    deploy_v1(access, shop, images)
    crash = add_version(app, shop.project_id, "crashing", {"cart": images["crash"]})
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, crash)
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.FAILED
    cart = release.stages[0].services[0]
    assert cart.status.value == "failed"
    assert "CrashLoopBackOff" in cart.message and "back-off" in cart.message.lower()
    code, html = timeline(client, release_id)
    assert code == 286 and "CrashLoopBackOff" in html


def test_an_image_that_cannot_be_pulled_fails_with_the_pods_message(
    app, client, auth, shop, access, images, registry
):
    deploy_v1(access, shop, images)
    missing = f"{registry.address}/shop/cart:never-pushed"
    version_id = add_version(app, shop.project_id, "missing", {"cart": missing})
    release_id = start(client, auth, make_workflow(app, shop, [DEPLOY_IMAGES]), version_id)
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.FAILED
    cart = release.stages[0].services[0]
    assert re.search(r"ErrImagePull|ImagePullBackOff", cart.message)
    assert "never-pushed" in cart.message  # the pod's own message names the image
    assert "ImagePull" in timeline(client, release_id)[1]


def test_only_existing_services_skips_the_missing_one(app, client, auth, shop, access, images):
    docs = "---\n".join(manifest(n, images[(n, "1.0")]) for n in ("cart", "web"))
    kube.apply_manifests(access, shop.namespace, docs)
    only = (StageKind.DEPLOY, {"content": "full", "only_existing": True, "timeout_seconds": 30})
    workflow_id = make_workflow(app, shop, [only])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED
    assert {s.name: s.status.value for s in release.stages[0].services} == {
        "api": "skipped",
        "cart": "passed",
        "web": "passed",
    }
    assert live_images(access, shop.namespace) == {
        "cart": images[("cart", "2.0")],
        "web": images[("web", "2.0")],
    }
    assert "skipped" in timeline(client, release_id)[1]


def test_cancel_while_waiting_for_approval(app, client, auth, shop):
    workflow_id = make_workflow(app, shop, [approval(app)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    assert client.post(f"/releases/{release_id}/cancel").status_code == 302
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.CANCELLED
    assert release.stages[0].status.value == "cancelled"
    assert decide(client, auth, release_id, "approver1").status_code == 302
    assert release_row(app, release_id).status is ReleaseStatus.CANCELLED


def test_retry_after_a_failed_deploy_keeps_passed_stages(app, client, auth, shop, access, images):
    # Images-only needs the workloads: nothing runs in the namespace yet, so it fails.
    workflow_id = make_workflow(app, shop, [TEST_PASSES, DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    first = release_row(app, release_id)
    assert first.status is ReleaseStatus.FAILED
    assert [s.status.value for s in first.stages] == ["passed", "failed"]
    assert "images-only deploy updates existing workloads only" in first.stages[1].message

    deploy_v1(access, shop, images)
    assert client.post(f"/releases/{release_id}/retry").status_code == 302
    run_queued_jobs(app)
    again = release_row(app, release_id)
    assert again.status is ReleaseStatus.PASSED and again.attempt == 2
    assert again.stages[0].started_at == first.stages[0].started_at  # not run again
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}


def test_rollback_restores_the_previous_images(app, client, auth, shop, access, images):
    workflow_id = make_workflow(app, shop, [DEPLOY_FULL, TEST_PASSES])
    first = start(client, auth, workflow_id, shop.versions["1.0"])
    run_queued_jobs(app)
    second = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    assert release_row(app, second).status is ReleaseStatus.PASSED
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}

    # A passed release is final: no retry, no cancel.
    client.post(f"/releases/{second}/retry")
    page = client.get(f"/releases/{second}").get_data(as_text=True)
    assert "Only a failed, rejected, timed-out or cancelled release can be retried." in page
    client.post(f"/releases/{second}/cancel")
    assert "A passed release cannot be cancelled." in client.get(f"/releases/{second}").get_data(
        as_text=True
    )
    assert release_row(app, second).status is ReleaseStatus.PASSED

    response = client.post(f"/releases/{second}/rollback")
    assert response.status_code == 302
    rollback_id = int(response.headers["Location"].rsplit("/", 1)[1])
    run_queued_jobs(app)
    rollback = release_row(app, rollback_id)
    assert rollback.is_rollback and rollback.rollback_of_id == second
    assert rollback.status is ReleaseStatus.PASSED
    assert rollback.version_id == release_row(app, first).version_id
    # A rollback passes the workflow's gates too: its test stage ran.
    assert [s.status.value for s in rollback.stages] == ["passed", "passed"]
    assert live_images(access, shop.namespace) == {n: images[(n, "1.0")] for n in SERVICES}
    page = client.get(f"/releases/{rollback_id}").get_data(as_text=True)
    assert "rollback" in page and f"release #{second}" in page


def test_two_releases_to_one_environment_run_one_after_the_other(
    app, client, auth, shop, access, images
):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    first = start(client, auth, workflow_id, shop.versions["2.0"])
    second = start(client, auth, workflow_id, shop.versions["1.0"])
    html = client.get(f"/releases/{second}").get_data(as_text=True)
    assert f'queued behind <a href="/releases/{first}">release #{first}</a>' in html
    assert "queued behind" in client.get("/releases/").get_data(as_text=True)
    run_queued_jobs(app)
    one, two = release_row(app, first), release_row(app, second)
    assert one.status is ReleaseStatus.PASSED and two.status is ReleaseStatus.PASSED
    assert two.started_at >= one.ended_at
    assert live_images(access, shop.namespace) == {n: images[(n, "1.0")] for n in SERVICES}


def test_cancel_a_queued_release_starts_the_next(app, client, auth, shop):
    workflow_id = make_workflow(app, shop, [approval(app)])
    first = start(client, auth, workflow_id, shop.versions["2.0"])
    second = start(client, auth, workflow_id, shop.versions["1.0"])
    run_queued_jobs(app)
    assert release_row(app, second).status is ReleaseStatus.QUEUED
    client.post(f"/releases/{first}/cancel")
    run_queued_jobs(app)
    assert release_row(app, second).status is ReleaseStatus.WAITING_APPROVAL


# --- more paths: HTTP checks, cancel while running, a lost executor ------------------


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_http_checks_pass_and_fail_on_the_expected_status(app, client, auth, shop, health_server):
    ok = (
        StageKind.TEST,
        {"mode": "http", "checks": [{"url": f"{health_server}/healthz", "status": 200}]},
    )
    workflow_id = make_workflow(app, shop, [ok])
    passing = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    release = release_row(app, passing)
    assert release.status is ReleaseStatus.PASSED
    assert f"GET {health_server}/healthz: 200 (expected 200)" in release.stages[0].log

    bad = (
        StageKind.TEST,
        {
            "mode": "http",
            "checks": [
                {"url": f"{health_server}/healthz", "status": 200},
                {"url": f"{health_server}/ready", "status": 200},
            ],
        },
    )
    failing = start(client, auth, make_workflow(app, shop, [bad], name="bad"), shop.versions["2.0"])
    run_queued_jobs(app)
    release = release_row(app, failing)
    assert release.status is ReleaseStatus.FAILED
    assert release.stages[0].message == "1 of 2 HTTP checks failed"
    assert f"GET {health_server}/ready: 503 (expected 200)" in timeline(client, failing)[1]


def test_cancel_while_running_stops_at_the_next_safe_point(app, client, auth, shop, access, images):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [TEST_PASSES, DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    answers = []

    def cancel_once_running():
        # RQ's worker needs the main thread (signals): the person cancels from this one.
        deadline = time.monotonic() + 20
        while release_row(app, release_id).stages[0].status is not StageStatus.RUNNING:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        answers.append(client.post(f"/releases/{release_id}/cancel").status_code)

    canceller = threading.Thread(target=cancel_once_running)
    canceller.start()
    run_queued_jobs(app)
    canceller.join(30)
    assert answers == [302]
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.CANCELLED
    assert release.message.startswith("Cancelled before stage")
    assert [s.status.value for s in release.stages] == ["passed", "pending"]
    # The deploy never ran: the cluster still runs 1.0.
    assert live_images(access, shop.namespace) == {n: images[(n, "1.0")] for n in SERVICES}


def test_reaper_resumes_a_release_whose_executor_was_lost(app, client, auth, shop, access, images):
    from redis import Redis
    from rq.job import Job

    from webapp.jobruns.reaper import reap

    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    with app.app_context():
        release = db.session.get(Release, release_id)
        lost = release.job_run
        # The executor had started the deploy when it was lost.
        release.move_to(ReleaseStatus.RUNNING)
        release.stages[0].begin()
        release.stages[0].services.append(ReleaseService(name="cart", status=ServiceStatus.RUNNING))
        db.session.commit()
        # Redis loses the job before a worker picks it up.
        Job.fetch(lost.rq_id, connection=Redis.from_url(app.config["REDIS_URL"])).delete()
        reap()
        db.session.refresh(lost)
        assert lost.status is JobStatus.FAILED and "Resumed as job" in lost.error
        resumed = db.session.get(Release, release_id).job_run_id
        assert resumed != lost.id
        # Should the lost job reach a worker after all, it does not run: its row ended.
        from jobs.releases import run_release

        assert run_release(lost.id, release_id) == f"Job {lost.id} was already failed."
        assert db.session.get(Release, release_id).stages[0].services[0].name == "cart"
        lost_id = lost.id
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED
    assert sorted(s.name for s in release.stages[0].services) == ["api", "cart", "web"]
    assert "Resumed: the previous run of this stage was lost" in release.stages[0].log
    assert live_images(access, shop.namespace) == {n: images[(n, "2.0")] for n in SERVICES}
    with app.app_context():
        runs = db.session.scalars(select(JobRun).where(JobRun.kind == "release")).all()
        assert [r.id for r in runs] == [lost_id, resumed]
        assert runs[1].status is JobStatus.SUCCEEDED and "passed" in runs[1].result


# --- pages and hooks ------------------------------------------------------------------


def test_viewer_reads_the_release_without_action_buttons(app, client, auth, shop):
    workflow_id = make_workflow(app, shop, [approval(app)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    auth.logout()
    auth.login("viewer")
    page = client.get(f"/releases/{release_id}").get_data(as_text=True)
    assert "Check the dashboards first." in page and "waiting approval" in page
    assert "Cancel release" not in page and 'name="approve"' not in page
    listing = client.get("/releases/").get_data(as_text=True)
    assert f'href="/releases/{release_id}"' in listing and 'hx-get="/releases/rows' in listing
    rows = client.get("/releases/rows").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in rows  # a release is unfinished: it polls quickly


def test_a_version_used_by_a_release_cannot_be_deleted(app, client, auth, shop):
    workflow_id = make_workflow(app, shop, [approval(app)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    auth.logout()
    auth.login("tester")
    client.post(f"/versions/{shop.versions['2.0']}/delete")
    with app.app_context():
        assert db.session.get(Version, shop.versions["2.0"]).deleted_at is None
    page = client.get(f"/versions/{shop.versions['2.0']}").get_data(as_text=True)
    assert f"used by release #{release_id}" in page


def test_an_approval_timeout_redis_lost_still_fires_from_the_database(app, client, auth, shop):
    from webapp.jobruns.queue import send_pending
    from webapp.jobruns.reaper import reap, recover_stuck

    workflow_id = make_workflow(app, shop, [approval(app, timeout_seconds=1)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    pass_the_deadline(app, release_id)
    with app.app_context():
        assert send_pending() == 1  # the due timeout goes to Redis...
        Redis.from_url(app.config["REDIS_URL"]).flushdb()  # ...and Redis loses it
        assert recover_stuck() == [f"release #{release_id}: approval Manual approval 1 timed out"]
        lost = db.session.scalars(
            select(JobRun).where(JobRun.kind == "release_approval_timeout")
        ).one()
        assert [r.id for r in reap()] == [lost.id]
        assert "vanished" in db.session.get(JobRun, lost.id).error
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.TIMEOUT
    assert release.stages[0].status.value == "timeout"


# --- Helm chart deploy ----------------------------------------------------------------


def test_helm_chart_deploy_creates_a_helm_revision(
    app, client, auth, sandbox_cluster, access, registry
):
    from jobs.helm.releases import helm_history, helm_upgrade
    from sandbox.charts import build_chart_archive

    namespace = f"helm-{uuid.uuid4().hex[:8]}"
    repository = f"{registry.address}/helm/ingest"
    for tag in ("1.0", "2.0"):
        push_demo_image(registry.address, "helm/ingest", tag, layer_sizes=(256,))
    old = build_chart_archive("ingest", "1.0.0", image_repository=repository, image_tag="1.0")
    helm_upgrade(access, namespace, "ingest", old, {})
    new = build_chart_archive("ingest", "1.1.0", image_repository=repository, image_tag="2.0")
    with app.app_context():
        cluster = Cluster(name=f"c-{namespace}", kubeconfig=sandbox_cluster.kubeconfig_text())
        project = Project(key=f"h-{namespace}", name="Data", kind=ProjectKind.HELM)
        ingest = Service(project=project, name="ingest", chart_name="ingest")
        absent = Service(project=project, name="absent", chart_name="absent", order_group=2)
        env = Environment(project=project, name="prod", namespace=namespace, cluster=cluster)
        version = Version(project=project, name="2026.11", status=VersionStatus.SUCCESS)
        for service in (ingest, absent):
            version.services.append(
                VersionService(
                    service=service,
                    name=service.name,
                    order_group=service.order_group,
                    yaml="",
                    chart_name=service.name,
                    chart_version="1.1.0",
                    chart_archive=new,
                    values_yaml="replicaCount: 2\n",
                )
            )
        workflow = Workflow(project=project, environment=env, name="charts")
        workflow.stages.append(
            WorkflowStage(
                position=1,
                kind=StageKind.HELM_DEPLOY,
                name="Charts",
                settings={"only_existing": True, "timeout_seconds": 30},
            )
        )
        db.session.add_all([version, workflow])
        db.session.commit()
        workflow_id, version_id, env_id = workflow.id, version.id, env.id
    release_id = start(client, auth, workflow_id, version_id)
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED, release.message
    rows = {s.name: s for s in release.stages[0].services}
    assert rows["absent"].status.value == "skipped"
    assert rows["ingest"].status.value == "passed"
    assert rows["ingest"].message == "revision 2: ingest 1.1.0 rolled out"

    history = helm_history(access, namespace, "ingest")
    assert [(r.revision, r.chart_version) for r in history] == [(1, "1.0.0"), (2, "1.1.0")]
    assert history[-1].status == "deployed"
    (workload,) = kube.read_workloads(access, namespace)
    assert workload.replicas == 2 and workload.containers[0].image == f"{repository}:2.0"
    with app.app_context():
        state = db.session.get(Environment, env_id).deployed[0]
        assert state.chart_version == "1.1.0"
        assert {i.container: i.image for i in state.images} == {"ingest": f"{repository}:2.0"}
