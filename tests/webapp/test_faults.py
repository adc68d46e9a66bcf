"""Nothing stuck, nothing lost: faults at the commit boundaries, Redis away, lost jobs.

Real Redis, the real app and, where a process has to die, real ``flask worker``
processes. Each test ends on what a user would see: the release or version ends,
or offers a way out.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from sandbox.services import free_port
from tests.helpers import run_queued_jobs
from tests.webapp import test_releases, test_versions_pages
from tests.webapp.test_releases import approval, decide, flashes, make_workflow, release_row, start
from tests.webapp.test_versions_pages import add_version
from tests.webapp.version_fixtures import create_through_form
from webapp.extensions import db
from webapp.models import (
    ApprovalDecision,
    EnvironmentLock,
    JobRun,
    JobStatus,
    Release,
    ReleaseStatus,
    Version,
    VersionStatus,
)

# The fixtures of the release and version tests, shared here.
images, access, shop = test_releases.images, test_releases.access, test_releases.shop
cat = test_versions_pages.cat

UNREACHABLE = "the job queue is unreachable"


class Killed(Exception):
    """Stands for the web process dying at the commit: the transaction is lost, whole."""


class CrashAtCommit:
    """Once armed, every commit that would write a job row fails, as a SIGKILL there would."""

    armed = False

    def __call__(self, session) -> None:
        if self.armed and session.info.get("slipway_outbox"):
            raise Killed("killed at the commit")


@pytest.fixture
def crash():
    listener = CrashAtCommit()
    event.listen(db.session, "before_commit", listener)
    yield listener
    event.remove(db.session, "before_commit", listener)


class QueueSwitch:
    """Points the app at a port where no Redis listens (``down``), and back (``up``)."""

    def __init__(self, app):
        self.app = app
        self.real = app.config["REDIS_URL"]

    def down(self) -> None:
        self.app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"

    def up(self) -> None:
        self.app.config["REDIS_URL"] = self.real


@pytest.fixture
def redis(app):
    switch = QueueSwitch(app)
    yield switch
    switch.up()


def holder(app, environment_id: int) -> int | None:
    with app.app_context():
        lock = db.session.get(EnvironmentLock, environment_id)
        return lock.release_id if lock else None


# --- Redis down: the work waits in the outbox and runs when Redis is back ----------------


def test_approve_while_redis_is_down_continues_when_it_is_back(app, client, auth, shop, redis):
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL
    redis.down()

    decide(client, auth, release_id, "approver1")
    page = flashes(client, f"/releases/{release_id}")
    assert f"You approved release #{release_id}." in page and UNREACHABLE in page
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.RUNNING
    with app.app_context():
        executor = db.session.get(JobRun, release.job_run_id)
        assert executor.status is JobStatus.QUEUED and executor.sent_at is None

    redis.up()
    run_queued_jobs(app)  # the dispatcher sends it; a worker runs it
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED
    assert holder(app, shop.environment_id) is None


def test_start_while_redis_is_down_says_queued_and_runs_when_it_is_back(
    app, client, auth, shop, redis
):
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    redis.down()
    auth.login("release")
    response = client.post(
        f"/releases/new/{workflow_id}",
        data={"version_id": shop.versions["2.0"]},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "queued; the job queue is unreachable, it starts when the queue is back" in html
    assert "started." not in html
    with app.app_context():
        release_id = db.session.scalars(select(Release.id)).one()
    assert release_row(app, release_id).status is ReleaseStatus.QUEUED
    redis.up()
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL


# --- a crash at the commit keeps all of a decision or none of it ------------------------


def test_a_crash_at_the_approval_commit_loses_nothing_half(app, client, auth, shop, crash):
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    crash.armed = True
    assert decide(client, auth, release_id, "approver1").status_code == 500
    # No decision saved without its stage move and its job: the approver can approve again.
    with app.app_context():
        assert db.session.scalars(select(ApprovalDecision)).all() == []
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.WAITING_APPROVAL
    page = client.get(f"/releases/{release_id}").get_data(as_text=True)
    assert 'name="approve"' in page and "already decided" not in page

    crash.armed = False
    decide(client, auth, release_id, "approver1")
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED


def test_a_crash_at_the_create_commit_leaves_no_version_and_the_name_free(
    app, client, auth, cat, crash
):
    auth.login("tester")
    arm = lambda: setattr(crash, "armed", True)  # noqa: E731
    assert create_through_form(client, cat, "v1", before_create=arm).status_code == 500
    with app.app_context():
        assert db.session.scalars(select(Version)).all() == []
        # Step 3's look-up of the target tags ran; no copy job was left behind.
        kinds = {run.kind for run in db.session.scalars(select(JobRun))}
        assert "version_create" not in kinds
    crash.armed = False
    response = create_through_form(client, cat, "v1")
    assert response.status_code == 302
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.job_run_id is not None
        assert db.session.get(JobRun, version.job_run_id).status is JobStatus.QUEUED


# --- recovery by state -----------------------------------------------------------------


def test_a_version_creating_without_a_job_is_requeued_and_ends(app, client, auth, cat):
    from webapp.jobruns.reaper import recover_stuck

    version_id = add_version(app, cat, "v1", status=VersionStatus.CREATING)
    with app.app_context():
        done = recover_stuck()
        assert done and "was creating with no copy job" in done[0]
        assert recover_stuck() == []  # its new job is queued: nothing more to do
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.get(Version, version_id)
        # The target registry does not answer here: it ends failed, with Retry offered.
        assert version.status is VersionStatus.FAILED
    auth.login("tester")
    page = client.get(f"/versions/{version_id}").get_data(as_text=True)
    assert "Retry failed images" in page


def test_a_running_release_without_an_executor_is_resumed(app, client, auth, shop):
    from webapp.jobruns.reaper import recover_stuck

    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    decide(client, auth, release_id, "approver1")
    with app.app_context():
        # The executor's job is gone for good (as an old, lost enqueue would leave it).
        run = db.session.get(JobRun, db.session.get(Release, release_id).job_run_id)
        run.status = JobStatus.FAILED
        db.session.commit()
        done = recover_stuck()
        assert done == [
            f"Release #{release_id} was running with no executor job. Resumed as job {run.id + 1}."
        ]
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED
    assert holder(app, shop.environment_id) is None


def test_cancel_of_a_release_with_no_executor_ends_it_and_starts_the_next(app, client, auth, shop):
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    first = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    decide(client, auth, first, "approver1")
    second = start(client, auth, workflow_id, shop.versions["1.0"])
    with app.app_context():
        run = db.session.get(JobRun, db.session.get(Release, first).job_run_id)
        run.status = JobStatus.FAILED
        db.session.commit()
    auth.logout()
    auth.login("release")
    client.post(f"/releases/{first}/cancel")
    page = flashes(client, f"/releases/{first}")
    assert "Release cancelled: no executor was running it." in page
    assert release_row(app, first).status is ReleaseStatus.CANCELLED
    assert holder(app, shop.environment_id) == second
    run_queued_jobs(app)
    assert release_row(app, second).status is ReleaseStatus.WAITING_APPROVAL


def test_the_reaper_never_overwrites_a_run_that_just_finished(app):
    from webapp.jobruns.reaper import _end_lost
    from webapp.models.base import utcnow

    with app.app_context():
        run = JobRun(
            kind="registry_test",
            title="t",
            rq_id="cas",
            status=JobStatus.RUNNING,
            sent_at=utcnow(),
            started_at=utcnow(),
        )
        db.session.add(run)
        db.session.commit()
        db.session.refresh(run)  # the reaper read it running...
        with db.engine.begin() as other:  # ...and meanwhile the job succeeded
            other.execute(
                JobRun.__table__.update()
                .where(JobRun.id == run.id)
                .values(status=JobStatus.SUCCEEDED, result="done")
            )
        assert _end_lost(run, "The worker process died") is False
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(JobRun, run.id).status is JobStatus.SUCCEEDED


def test_a_stage_moves_only_along_its_transition_table():
    from webapp.models import ReleaseStage, StageStatus

    stage = ReleaseStage(status=StageStatus.PENDING, name="Go", position=1)
    with pytest.raises(ValueError):
        stage.move_to(StageStatus.PASSED)  # never ran
    stage.begin()
    stage.move_to(StageStatus.WAITING_APPROVAL)
    with pytest.raises(ValueError):
        stage.move_to(StageStatus.FAILED)  # an approval passes, is rejected, times out
    stage.move_to(StageStatus.TIMEOUT, "Nobody decided.")
    assert stage.ended_at is not None and stage.message == "Nobody decided."
    with pytest.raises(ValueError):
        stage.move_to(StageStatus.RUNNING)  # ended: only a reset brings it back
    stage.move_to(StageStatus.PENDING)
    assert stage.started_at is None and stage.message is None


def test_create_while_redis_is_down_says_queued_and_copies_when_it_is_back(
    app, client, auth, cat, redis
):
    auth.login("tester")
    redis.down()
    response = create_through_form(client, cat, "v1")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Queued; the job queue is unreachable, the copy starts when the queue is back." in page
    redis.up()
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status.finished  # the copy ran (this catalog's registry is not there)
        assert db.session.get(JobRun, version.job_run_id).sent_at is not None
