"""The environment lock and the release rules on PostgreSQL (selected by DATABASE_URL)."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from tests.helpers import PASSWORD, PASSWORD_HASH
from webapp.extensions import db
from webapp.models import (
    Environment,
    EnvironmentLock,
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


@pytest.fixture
def queue_emptied_after(redis_service):
    """The executors this test enqueues must not reach a later test's worker."""
    from redis import Redis

    yield
    Redis.from_url(redis_service.extra["url"]).flushdb()


def test_one_release_per_environment_on_postgresql(
    postgres_app, redis_service, queue_emptied_after
):
    from redis import Redis

    Redis.from_url(redis_service.extra["url"]).flushdb()
    app = postgres_app()
    with app.app_context():
        upgrade()
        assert db.engine.dialect.name == "postgresql"
        release_engineer = User(
            username="release", role=Role.RELEASE_ENGINEER, password_hash=PASSWORD_HASH
        )
        project = Project(key="pg-shop", name="Shop", kind=ProjectKind.K8S_YAML)
        env = Environment(project=project, name="prod", namespace="pg-prod")
        version = Version(project=project, name="v1", status=VersionStatus.SUCCESS)
        workflow = Workflow(project=project, environment=env, name="approve-only")
        db.session.add_all([release_engineer, version, workflow])
        db.session.flush()
        workflow.stages.append(
            WorkflowStage(
                position=1,
                kind=StageKind.APPROVAL,
                name="Go",
                settings={"approver_ids": [release_engineer.id], "approvals_needed": 1},
            )
        )
        db.session.commit()
        workflow_id, version_id, env_id = workflow.id, version.id, env.id
    client = app.test_client()
    client.post("/auth/login", data={"username": "release", "password": PASSWORD})
    ids = []
    for _ in range(2):
        response = client.post(f"/releases/new/{workflow_id}", data={"version_id": version_id})
        assert response.status_code == 302
        ids.append(int(response.headers["Location"].rsplit("/", 1)[1]))
    first, second = ids
    with app.app_context():
        from sqlalchemy.exc import IntegrityError

        from webapp.releases.services import dispatch

        assert db.session.get(EnvironmentLock, env_id).release_id == first
        assert dispatch(env_id) is None  # held: nothing more starts
        db.session.rollback()
        # A racing writer that skipped the check still cannot take the environment.
        db.session.add(EnvironmentLock(environment_id=env_id, release_id=second))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(Release, second).status is ReleaseStatus.QUEUED
    page = client.get(f"/releases/{second}").get_data(as_text=True)
    assert f'queued behind <a href="/releases/{first}">release #{first}</a>' in page

    assert client.post(f"/releases/{first}/cancel").status_code == 302
    with app.app_context():
        assert db.session.get(Release, first).status is ReleaseStatus.CANCELLED
        assert db.session.get(EnvironmentLock, env_id).release_id == second
        assert db.session.get(Release, second).job_run_id is not None  # its executor is queued
        locks = db.session.scalars(select(EnvironmentLock)).all()
        assert len(locks) == 1
        db.session.remove()
        db.engine.dispose()
