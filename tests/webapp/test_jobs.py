"""Job runs: the status widget, real jobs through RQ, and the reaper."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers import run_queued_jobs
from webapp.extensions import db
from webapp.models import JobRun, JobStatus, Registry


def add_run(app, status: JobStatus, **fields) -> int:
    with app.app_context():
        run = JobRun(
            kind="registry_test",
            title="Test connection",
            rq_id=f"r-{status}",
            status=status,
            **fields,
        )
        db.session.add(run)
        db.session.commit()
        return run.id


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_widget_polls_while_the_job_is_unfinished(app, client, auth, status):
    run_id = add_run(app, status)
    auth.login("viewer")
    response = client.get(f"/jobs/{run_id}/status")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_widget_stops_polling_with_the_result(app, client, auth):
    run_id = add_run(app, JobStatus.SUCCEEDED, result="registry answered over HTTP")
    auth.login("viewer")
    response = client.get(f"/jobs/{run_id}/status")
    assert response.status_code == 286
    html = response.get_data(as_text=True)
    assert "registry answered over HTTP" in html
    assert "hx-trigger" not in html


def test_widget_shows_the_error_of_a_failed_job(app, client, auth):
    run_id = add_run(app, JobStatus.FAILED, error="unauthorized: check the credentials")
    auth.login("viewer")
    response = client.get(f"/jobs/{run_id}/status")
    assert response.status_code == 286
    assert "unauthorized: check the credentials" in response.get_data(as_text=True)


def _add_registry(app, address: str, **fields) -> int:
    with app.app_context():
        registry = Registry(
            name=f"r{abs(hash(address)) % 10000}", address=address, plain_http=True, **fields
        )
        db.session.add(registry)
        db.session.commit()
        return registry.id


def _test_connection(app, client, registry_id: int) -> str:
    response = client.post(
        f"/catalog/registries/{registry_id}/test", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in response.get_data(as_text=True)  # queued: it polls
    run_queued_jobs(app)
    with app.app_context():
        run = db.session.scalars(db.select(JobRun).order_by(JobRun.id.desc())).first()
        final = client.get(f"/jobs/{run.id}/status")
        assert final.status_code == 286
        return final.get_data(as_text=True)


def test_registry_test_connection_against_a_real_registry(app, client, auth, registry):
    auth.login("admin")
    html = _test_connection(app, client, _add_registry(app, registry.address))
    assert "succeeded" in html
    assert f"registry {registry.address} answered over HTTP" in html


def test_registry_test_connection_with_credentials(app, client, auth, auth_registry):
    auth.login("admin")
    good = _add_registry(app, auth_registry.address, username="slipway", password="s3cret-pw")
    assert "signed in as &#39;slipway&#39;" in _test_connection(app, client, good)
    with app.app_context():
        db.session.get(Registry, good).password = "wrong-password"
        db.session.commit()
    html = _test_connection(app, client, good)
    assert "failed" in html and "credentials" in html
    assert "wrong-password" not in html


def test_registry_test_connection_to_nothing(app, client, auth):
    from sandbox.services import free_port

    auth.login("admin")
    html = _test_connection(app, client, _add_registry(app, f"127.0.0.1:{free_port()}"))
    assert "failed" in html
    assert "127.0.0.1" in html


def test_redis_down_keeps_the_job_queued_until_redis_is_back(app, client, auth):
    from sandbox.services import free_port

    auth.login("admin")
    real_redis = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    registry_id = _add_registry(app, f"127.0.0.1:{free_port()}")
    response = client.post(
        f"/catalog/registries/{registry_id}/test", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "the job queue is unreachable, it starts when the queue is back" in html
    with app.app_context():
        run = db.session.scalars(db.select(JobRun)).one()
        assert run.status is JobStatus.QUEUED and run.sent_at is None
    # Redis is back: the dispatcher sends it and a worker runs it.
    app.config["REDIS_URL"] = real_redis
    run_queued_jobs(app)
    page = client.get(f"/jobs/{run.id}/status")
    assert page.status_code == 286
    assert "failed" in page.get_data(as_text=True)


class BlackHole:
    """A TCP server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_reaper_fails_the_run_of_a_killed_worker(app, app_config, client, auth, tmp_path):
    from webapp.jobruns.reaper import reap

    hole = BlackHole()
    auth.login("admin")
    registry_id = _add_registry(app, f"127.0.0.1:{hole.port}")
    client.post(f"/catalog/registries/{registry_id}/test")
    env = {
        **os.environ,
        "FLASK_APP": "webapp",
        "SLIPWAY_SECRET_KEY": app_config["SECRET_KEY"],
        "SLIPWAY_DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "SLIPWAY_REDIS_URL": app_config["REDIS_URL"],
        "SLIPWAY_INSTANCE_PATH": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with app.app_context():
            run = db.session.scalars(db.select(JobRun)).one()
            deadline = time.monotonic() + 30
            while run.status != JobStatus.RUNNING and time.monotonic() < deadline:
                time.sleep(0.1)
                db.session.refresh(run)
            assert run.status == JobStatus.RUNNING
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            # RQ's work-horse runs in its own process group: kill it too, as a
            # crash of the whole worker (OOM killer, lost machine) would.
            os.kill(run.pid, signal.SIGKILL)
            time.sleep(0.2)
            reaped = reap()
            assert [r.id for r in reaped] == [run.id]
            db.session.refresh(run)
            assert run.status == JobStatus.FAILED
            assert "worker process died" in run.error
        page = client.get(f"/jobs/{run.id}/status")
        assert page.status_code == 286
        assert "worker process died" in page.get_data(as_text=True)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        hole.close()


def test_reaper_fails_a_run_whose_job_vanished(app, redis_service):
    from datetime import timedelta

    from webapp.jobruns.reaper import reap
    from webapp.models.base import utcnow

    run_id = add_run(app, JobStatus.QUEUED, sent_at=utcnow() - timedelta(seconds=30))
    with app.app_context():
        reaped = reap()
        assert [r.id for r in reaped] == [run_id]
        assert "vanished" in db.session.get(JobRun, run_id).error
        assert reap() == []  # finished runs are left alone
