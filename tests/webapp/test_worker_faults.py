"""Real ``flask worker`` processes against a Redis that stops and comes back empty.

The worker keeps going (it reconnects), its dispatcher sends what waited in the
outbox, approval timeouts fire on time from the database, and a job Redis forgot
while its work-horse is alive is not started twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import select

from sandbox import services
from tests.helpers import wait_until
from tests.webapp import test_releases
from tests.webapp.test_jobs import BlackHole, _add_registry
from tests.webapp.test_releases import approval, make_workflow, release_row, start
from webapp.extensions import db
from webapp.models import EnvironmentLock, JobRun, JobStatus, ReleaseStatus

pytestmark = pytest.mark.slow

images, access, shop = test_releases.images, test_releases.access, test_releases.shop

REAPER_INTERVAL = 2


class OwnRedis:
    """A Redis of this test alone, so it can stop and come back (empty) on the same port."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.service = services.start_redis(workdir)
        self.port = self.service.port
        self.url = self.service.extra["url"]

    def stop(self) -> None:
        self.service.stop()

    def restart(self) -> None:
        self.service = services.start_redis(self.workdir, port=self.port)


@pytest.fixture
def own_redis(app, tmp_path):
    redis = OwnRedis(tmp_path)
    app.config["REDIS_URL"] = redis.url
    yield redis
    redis.stop()


@pytest.fixture
def workers(app, app_config, own_redis, tmp_path):
    """Start ``flask worker`` processes; kills them and their work-horses afterwards."""
    started: list[subprocess.Popen] = []

    def spawn(**settings) -> subprocess.Popen:
        env = {
            **os.environ,
            "FLASK_APP": "webapp",
            "SLIPWAY_SECRET_KEY": app_config["SECRET_KEY"],
            "SLIPWAY_DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
            "SLIPWAY_REDIS_URL": own_redis.url,
            "SLIPWAY_INSTANCE_PATH": str(tmp_path),
            "SLIPWAY_REAPER_INTERVAL": str(REAPER_INTERVAL),
            **{f"SLIPWAY_{key}": str(value) for key, value in settings.items()},
        }
        log_path = tmp_path / f"worker-{len(started)}.log"
        log = open(log_path, "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"],
            env=env,
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = log_path
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with app.app_context():
        for pid in db.session.scalars(select(JobRun.pid).where(JobRun.pid.is_not(None))):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_row(app, run_id: int) -> JobRun:
    with app.app_context():
        run = db.session.get(JobRun, run_id)
        db.session.expunge(run)
        return run


def test_after_a_redis_restart_the_worker_goes_on_and_the_timeout_fires_on_time(
    app, client, auth, shop, own_redis, workers
):
    worker = workers()
    workflow_id = make_workflow(app, shop, [approval(app, needed=1, timeout_seconds=8)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    wait_until(
        lambda: release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL,
        30,
        "the release to wait for its approval",
    )
    deadline = release_row(app, release_id).stages[0].deadline_at

    own_redis.stop()
    # The worker notices (its dequeue fails) and must not exit.
    wait_until(
        lambda: any(
            sign in open_log(worker)
            for sign in ("Redis unreachable", "queue failed", "could not connect to Redis")
        ),
        30,
        "the worker to notice Redis is gone",
    )
    assert worker.poll() is None
    own_redis.restart()  # empty: whatever Redis held is gone

    from webapp.models.base import utcnow

    allowed = max(0.0, (deadline - utcnow()).total_seconds()) + REAPER_INTERVAL + 5
    wait_until(
        lambda: release_row(app, release_id).status is ReleaseStatus.TIMEOUT,
        allowed,
        "the approval to time out",
    )
    assert worker.poll() is None
    with app.app_context():
        assert db.session.get(EnvironmentLock, shop.environment_id) is None

    # And the worker runs new work after the restart.
    auth.logout()
    auth.login("admin")
    registry_id = _add_registry(app, f"127.0.0.1:{services.free_port()}")
    client.post(f"/catalog/registries/{registry_id}/test")
    with app.app_context():
        run_id = db.session.scalars(select(JobRun.id).order_by(JobRun.id.desc())).first()
    wait_until(lambda: run_row(app, run_id).status is JobStatus.FAILED, 60, "the new job to run")
    assert "127.0.0.1" in run_row(app, run_id).error


def open_log(worker: subprocess.Popen) -> str:
    return worker.log_path.read_text(errors="replace")


def test_a_job_redis_forgot_with_its_work_horse_alive_is_not_started_twice(
    app, client, auth, own_redis, workers
):
    from webapp.jobruns.reaper import reap

    hole = BlackHole()  # the job waits on it: long-running work
    worker = workers(JOB_HEARTBEAT_INTERVAL=1, JOB_HEARTBEAT_GRACE=3)
    app.config["JOB_HEARTBEAT_GRACE"] = 3
    auth.login("admin")
    registry_id = _add_registry(app, f"127.0.0.1:{hole.port}")
    client.post(f"/catalog/registries/{registry_id}/test")
    with app.app_context():
        run_id = db.session.scalars(select(JobRun.id)).one()
    wait_until(lambda: run_row(app, run_id).status is JobStatus.RUNNING, 30, "the job to start")
    own_redis.stop()
    own_redis.restart()  # Redis forgot the job; its work-horse goes on
    started = run_row(app, run_id).started_at
    # Past the heartbeat grace: only a heartbeat the job itself writes keeps it alive.
    wait_until(
        lambda: (run_row(app, run_id).heartbeat_at - started).total_seconds() > 4,
        20,
        "the job's own heartbeat to go on",
    )
    with app.app_context():
        assert reap() == []
    assert run_row(app, run_id).status is JobStatus.RUNNING
    with app.app_context():
        assert db.session.scalars(select(JobRun)).all()[-1].id == run_id  # no second copy
    # The registry hangs up: the one run ends, with the reason, and the worker is still there.
    hole.close()
    wait_until(lambda: run_row(app, run_id).status is JobStatus.FAILED, 60, "the job to end")
    assert worker.poll() is None
    with app.app_context():
        assert len(db.session.scalars(select(JobRun)).all()) == 1


def test_the_web_process_killed_right_after_the_approval_commit_loses_nothing(
    app, app_config, client, auth, shop, own_redis, workers, tmp_path
):
    import threading
    from pathlib import Path

    import requests

    from tests.helpers import PASSWORD
    from webapp.models import ApprovalDecision

    workers()
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    wait_until(
        lambda: release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL,
        30,
        "the release to wait for its approval",
    )
    # The web process reaches a Redis that accepts and never answers: after its commit
    # it hangs handing the job over, and is killed right there.
    hole = BlackHole()
    port = services.free_port()
    env = {
        **os.environ,
        "SLIPWAY_SECRET_KEY": app_config["SECRET_KEY"],
        "SLIPWAY_DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "SLIPWAY_REDIS_URL": f"redis://127.0.0.1:{hole.port}/0",
        "SLIPWAY_INSTANCE_PATH": str(tmp_path),
        "SLIPWAY_WTF_CSRF_ENABLED": "false",
        "SLIPWAY_SESSION_COOKIE_SECURE": "false",
        "SLIPWAY_AUTO_MIGRATE": "false",
    }
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        services.wait_for_port(port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.post(f"{base}/auth/login", data={"username": "approver1", "password": PASSWORD})
        answers = []

        def approve():
            try:
                answers.append(
                    session.post(
                        f"{base}/releases/{release_id}/decision",
                        data={"approve": "Approve"},
                        timeout=30,
                    ).status_code
                )
            except requests.ConnectionError:
                answers.append("connection lost")

        thread = threading.Thread(target=approve)
        thread.start()

        def handing_over():
            with app.app_context():
                decided = db.session.scalars(select(ApprovalDecision)).all()
                claimed = db.session.scalar(
                    select(JobRun.id)
                    .where(JobRun.kind == "release", JobRun.id > 1)
                    .where(JobRun.sent_at.is_not(None))
                )
                return decided and claimed

        # Committed, and claimed for Redis: the web process now waits on the black hole.
        wait_until(handing_over, 20, "the decision committed and its job being handed over")
        os.killpg(gunicorn.pid, signal.SIGKILL)
        gunicorn.wait()
        thread.join()
        assert answers == ["connection lost"]
    finally:
        if gunicorn.poll() is None:
            os.killpg(gunicorn.pid, signal.SIGKILL)
            gunicorn.wait()
        hole.close()
    # The decision, the stage's move and the executor's job were one commit; the worker's
    # dispatcher hands the job over and the release finishes.
    wait_until(
        lambda: release_row(app, release_id).status is ReleaseStatus.PASSED,
        30,
        "the approved release to pass",
    )
    release = release_row(app, release_id)
    assert [d.username for d in release.stages[0].decisions] == ["approver1"]
    wait_until(
        lambda: run_row(app, release.job_run_id).status is JobStatus.SUCCEEDED,
        10,
        "the executor's run to end",
    )
    with app.app_context():
        executors = db.session.scalars(select(JobRun).where(JobRun.kind == "release")).all()
        # The web process had claimed the job for Redis when it died: the reaper found it
        # never reached Redis and resumed it as a new run. Nothing ran twice.
        first, lost, resumed = executors
        assert first.status is JobStatus.SUCCEEDED and resumed.status is JobStatus.SUCCEEDED
        assert lost.status is JobStatus.FAILED and lost.started_at is None
        assert "vanished" in lost.error and f"Resumed as job {resumed.id}" in lost.error


def test_sigterm_stops_an_idle_worker_and_its_dispatcher(workers):
    """A supervisor's (or make run's) SIGTERM ends the worker: it must not start over."""
    worker = workers()
    wait_until(lambda: "Listening on" in open_log(worker), 30, "the worker to listen")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0, open_log(worker)
    assert "starting again" not in open_log(worker)
    # The dispatcher beside it (same process group) has ended too.
    with pytest.raises(ProcessLookupError):
        os.killpg(worker.pid, 0)
