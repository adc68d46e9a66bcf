"""The default database under concurrent users: 20 Starts + 20 Approvals at once, no 500.

Real gunicorn (4 processes) and two ``flask worker`` processes on one SQLite file:
WAL lets readers and the writer pass each other, the busy timeout makes writers
wait their turn instead of failing with "database is locked".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from sandbox.services import free_port, wait_for_port
from tests.helpers import PASSWORD, PASSWORD_HASH, run_queued_jobs, wait_until
from webapp.extensions import db
from webapp.models import (
    Environment,
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

ROOT = Path(__file__).resolve().parents[2]
EACH = 20


def _catalog(app) -> tuple[list[int], list[int], int]:
    """40 environments with an approval-only workflow each; a successful version."""
    with app.app_context():
        approver = User(
            username="approver1", role=Role.RELEASE_ENGINEER, password_hash=PASSWORD_HASH
        )
        project = Project(key="busy", name="Busy", kind=ProjectKind.K8S_YAML)
        version = Version(project=project, name="v1", status=VersionStatus.SUCCESS)
        db.session.add_all([approver, project, version])
        db.session.flush()
        workflows = []
        for n in range(2 * EACH):
            env = Environment(project=project, name=f"e{n}", namespace=f"busy-{n}")
            workflow = Workflow(project=project, environment=env, name=f"w{n}")
            workflow.stages.append(
                WorkflowStage(
                    position=1,
                    kind=StageKind.APPROVAL,
                    name="Go",
                    settings={"approver_ids": [approver.id], "approvals_needed": 1},
                )
            )
            db.session.add(workflow)
            workflows.append(workflow)
        db.session.commit()
        ids = [w.id for w in workflows]
        return ids[:EACH], ids[EACH:], version.id


def _spawn(args, env, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=open(log, "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )


def test_twenty_starts_and_twenty_approvals_at_once_on_sqlite(app, app_config, tmp_path):
    start_ids, approve_ids, version_id = _catalog(app)
    # The releases to approve wait for their approval already.
    client = app.test_client()
    client.post("/auth/login", data={"username": "release", "password": PASSWORD})
    for workflow_id in approve_ids:
        assert (
            client.post(f"/releases/new/{workflow_id}", data={"version_id": version_id}).status_code
            == 302
        )
    run_queued_jobs(app)
    with app.app_context():
        waiting = db.session.scalars(
            select(Release.id).where(Release.status == ReleaseStatus.WAITING_APPROVAL)
        ).all()
        assert len(waiting) == EACH
        db.session.remove()
        db.engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "FLASK_APP": "webapp",
        "SLIPWAY_SECRET_KEY": app_config["SECRET_KEY"],
        "SLIPWAY_DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "SLIPWAY_REDIS_URL": app_config["REDIS_URL"],
        "SLIPWAY_INSTANCE_PATH": str(tmp_path),
        "SLIPWAY_WTF_CSRF_ENABLED": "false",
        "SLIPWAY_SESSION_COOKIE_SECURE": "false",
        "SLIPWAY_REMEMBER_COOKIE_SECURE": "false",
        "SLIPWAY_AUTO_MIGRATE": "false",
    }
    bin_dir = Path(sys.executable).parent
    procs = [
        _spawn(
            [
                str(bin_dir / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "4",
                "wsgi:app",
            ],
            env,
            tmp_path / "gunicorn.log",
        )
    ]
    procs += [
        _spawn([sys.executable, "-m", "flask", "worker"], env, tmp_path / f"worker-{n}.log")
        for n in range(2)
    ]
    try:
        wait_for_port(port, timeout=30)
        base = f"http://127.0.0.1:{port}"

        def signed_in(username: str) -> requests.Session:
            session = requests.Session()
            answer = session.post(
                f"{base}/auth/login",
                data={"username": username, "password": PASSWORD},
                allow_redirects=False,
            )
            assert answer.status_code == 302, answer.text
            return session

        posts = [
            (signed_in("release"), f"/releases/new/{w}", {"version_id": version_id})
            for w in start_ids
        ]
        posts += [
            (
                signed_in("approver1"),
                f"/releases/{r}/decision",
                {"approve": "Approve", "comment": ""},
            )
            for r in waiting
        ]
        barrier = threading.Barrier(len(posts))
        codes: list[int] = []

        def post(session, path, data):
            barrier.wait()
            codes.append(
                session.post(base + path, data=data, allow_redirects=False, timeout=60).status_code
            )

        threads = [threading.Thread(target=post, args=item) for item in posts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(codes) == [302] * (2 * EACH), (tmp_path / "gunicorn.log").read_text()[-3000:]

        def counts():
            with app.app_context():
                rows = db.session.execute(
                    select(Release.status, func.count()).group_by(Release.status)
                ).all()
                return dict(rows)

        wait_until(
            lambda: counts() == {ReleaseStatus.PASSED: EACH, ReleaseStatus.WAITING_APPROVAL: EACH},
            90,
            "20 approved releases to pass and 20 started ones to wait for approval",
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
