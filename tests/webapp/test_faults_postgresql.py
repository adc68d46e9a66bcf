"""On PostgreSQL, the decision transactions take turns the way they do on SQLite."""

from __future__ import annotations

import threading

import pytest
from flask_migrate import upgrade
from redis import Redis
from sqlalchemy import select

from tests.helpers import PASSWORD, PASSWORD_HASH, run_queued_jobs
from webapp.extensions import db
from webapp.models import (
    ApprovalDecision,
    Environment,
    JobRun,
    Project,
    ProjectKind,
    Release,
    ReleaseStatus,
    Role,
    StageKind,
    User,
    Version,
    VersionStatus,
    Workflow,
    WorkflowStage,
)

pytestmark = pytest.mark.slow

APPROVERS = ("approver1", "approver2", "approver3")


@pytest.fixture
def pg_app(postgres_app, redis_service):
    Redis.from_url(redis_service.extra["url"]).flushdb()
    app = postgres_app()
    with app.app_context():
        upgrade()
        assert db.engine.dialect.name == "postgresql"
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.engine.dispose()
    Redis.from_url(redis_service.extra["url"]).flushdb()


def test_three_approvers_at_once_continue_the_release_exactly_once(pg_app):
    app = pg_app
    with app.app_context():
        people = [
            User(username=name, role=Role.RELEASE_ENGINEER, password_hash=PASSWORD_HASH)
            for name in ("release", *APPROVERS)
        ]
        project = Project(key="pg-busy", name="Busy", kind=ProjectKind.K8S_YAML)
        env = Environment(project=project, name="prod", namespace="pg-busy")
        version = Version(project=project, name="v1", status=VersionStatus.SUCCESS)
        workflow = Workflow(project=project, environment=env, name="approve")
        db.session.add_all([*people, version, workflow])
        db.session.flush()
        workflow.stages.append(
            WorkflowStage(
                position=1,
                kind=StageKind.APPROVAL,
                name="Go",
                settings={"approver_ids": [p.id for p in people[1:]], "approvals_needed": 2},
            )
        )
        db.session.commit()
        workflow_id, version_id = workflow.id, version.id
    starter = app.test_client()
    starter.post("/auth/login", data={"username": "release", "password": PASSWORD})
    response = starter.post(f"/releases/new/{workflow_id}", data={"version_id": version_id})
    release_id = int(response.headers["Location"].rsplit("/", 1)[1])
    run_queued_jobs(app)

    clients = []
    for name in APPROVERS:
        client = app.test_client()
        client.post("/auth/login", data={"username": name, "password": PASSWORD})
        clients.append(client)
    barrier = threading.Barrier(len(clients))
    codes = []

    def approve(client):
        barrier.wait()
        answer = client.post(f"/releases/{release_id}/decision", data={"approve": "Approve"})
        codes.append(answer.status_code)

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [302, 302, 302]
    with app.app_context():
        release = db.session.get(Release, release_id)
        # Two approvals were enough; whoever came after them was refused, not counted.
        assert release.status is ReleaseStatus.RUNNING
        decisions = db.session.scalars(select(ApprovalDecision)).all()
        assert len(decisions) == 2
        executors = db.session.scalars(select(JobRun).where(JobRun.kind == "release")).all()
        assert len(executors) == 2  # the start and one continuation, not two
    run_queued_jobs(app)
    with app.app_context():
        assert db.session.get(Release, release_id).status is ReleaseStatus.PASSED
