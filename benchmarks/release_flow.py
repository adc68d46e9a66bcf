"""Release flow benchmark: approval click -> next stage start, and one timeline poll.

Run from the repository root::

    .venv/bin/python benchmarks/release_flow.py [--approvals 20] [--polls 200] [--rounds 5]

1. Approval latency. Starts a real ``redis-server`` and a real ``flask worker``
   (RQ worker with its scheduler, forking a work-horse per job) on a fresh
   migrated SQLite database, and one release whose workflow alternates
   *approval -> HTTP check* ``--approvals`` times (the check hits a local HTTP
   server, so no cluster is involved). For each approval the decision is posted
   through the app (as a click would) and the time runs until the next stage's
   ``started_at`` lands in the database, written by the executor in the worker.
2. Timeline poll. A release of 10 stages (two deploy stages of 20 services
   each, test, approval stages with decisions) is written straight to the
   database; ``GET /releases/<id>/timeline`` is timed in-process (the Flask
   test client: routing, sign-in check, queries, template), ``--rounds``
   rounds of ``--polls`` polls each (the machine's other load varies between
   rounds; the quietest round is reported next to all of them): as the page
   polls it (``?seen=<stamp>``: nothing changed, an empty 204) and without the
   stamp (the whole timeline rendered).

Prints median and p95 for each. Not run by ``make test``.
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import services  # noqa: E402

SECRET = "benchmark-secret-key-not-for-production"


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def build_app(db_path: Path, redis_url: str):
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "REDIS_URL": redis_url,
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
    return app


def add_users(app) -> dict[str, int]:
    from webapp.extensions import db
    from webapp.models import Role, User

    ids = {}
    with app.app_context():
        for name in ("requester", "approver"):
            user = User(username=name, role=Role.RELEASE_ENGINEER)
            user.set_password("benchmark-password")
            db.session.add(user)
            db.session.flush()
            ids[name] = user.id
        db.session.commit()
    return ids


def add_shop(app, stages: list[tuple], services_count: int = 0):
    """A project, environment, version and workflow of ``stages``; returns (workflow, version)."""
    from webapp.extensions import db
    from webapp.models import (
        Environment,
        Project,
        ProjectKind,
        Service,
        Version,
        VersionService,
        VersionStatus,
        Workflow,
        WorkflowStage,
    )

    with app.app_context():
        project = Project(
            key=f"bench-{time.monotonic_ns()}", name="Bench", kind=ProjectKind.K8S_YAML
        )
        env = Environment(project=project, name="prod", namespace="bench")
        version = Version(project=project, name="v1", status=VersionStatus.SUCCESS)
        for index in range(services_count):
            service = Service(project=project, name=f"svc-{index:02d}", order_group=index % 3 + 1)
            version.services.append(
                VersionService(
                    service=service, name=service.name, order_group=service.order_group, yaml=""
                )
            )
        workflow = Workflow(project=project, environment=env, name="bench")
        for position, (kind, settings) in enumerate(stages, start=1):
            workflow.stages.append(
                WorkflowStage(
                    position=position, kind=kind, name=f"{kind.value}-{position}", settings=settings
                )
            )
        db.session.add_all([version, workflow])
        db.session.commit()
        return workflow.id, version.id


def login(client, username: str) -> None:
    response = client.post(
        "/auth/login", data={"username": username, "password": "benchmark-password"}
    )
    assert response.status_code == 302, response.status_code


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.002):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        time.sleep(interval)


def approval_latency(app, ids: dict[str, int], approvals: int, check_url: str) -> list[float]:
    """Seconds from posting each approval to the next stage's start, as the worker records it."""
    from webapp.extensions import db
    from webapp.models import Release, ReleaseStage, ReleaseStatus, StageKind, StageStatus
    from webapp.models.base import utcnow

    approval = (
        StageKind.APPROVAL,
        {"approver_ids": [ids["approver"]], "approvals_needed": 1, "timeout_seconds": 3600},
    )
    check = (StageKind.TEST, {"mode": "http", "checks": [{"url": check_url, "status": 200}]})
    workflow_id, version_id = add_shop(app, [approval, check] * approvals)
    requester, approver = app.test_client(), app.test_client()
    login(requester, "requester")
    login(approver, "approver")
    response = requester.post(f"/releases/new/{workflow_id}", data={"version_id": version_id})
    release_id = int(response.headers["Location"].rsplit("/", 1)[1])

    def stage(position: int) -> ReleaseStage:
        with app.app_context():
            row = db.session.scalar(
                db.select(ReleaseStage).where(
                    ReleaseStage.release_id == release_id, ReleaseStage.position == position
                )
            )
            db.session.expunge(row)
            return row

    samples = []
    for index in range(approvals):
        waiting = 2 * index + 1
        wait_for(lambda p=waiting: stage(p).status is StageStatus.WAITING_APPROVAL)
        clicked = utcnow()
        answer = approver.post(f"/releases/{release_id}/decision", data={"approve": "Approve"})
        assert answer.status_code == 302
        next_started = wait_for(lambda p=waiting + 1: stage(p).started_at)
        # The worker's own timestamp: polling here does not add to the figure.
        samples.append((next_started - clicked) / timedelta(seconds=1))
    with app.app_context():
        final = wait_for(
            lambda: (
                db.session.get(Release, release_id).status.finished
                and db.session.get(Release, release_id)
            )
        )
        assert final.status is ReleaseStatus.PASSED, final.status
    return samples


def timeline_poll(app, ids: dict[str, int], polls: int, rounds: int) -> tuple[list, list]:
    """Seconds per ``GET /releases/<id>/timeline`` of a 10-stage, 20-service release.

    Two figures: the usual poll, which finds nothing changed (204, no render),
    and a poll that renders the whole timeline (something changed). One list of
    samples per round.
    """
    from webapp.extensions import db
    from webapp.models import (
        ApprovalDecision,
        Decision,
        Release,
        ReleaseService,
        ReleaseStage,
        ReleaseStatus,
        ServiceStatus,
        StageKind,
        StageStatus,
    )
    from webapp.models.base import utcnow

    deploy = (StageKind.DEPLOY, {"content": "images", "timeout_seconds": 600})
    test = (StageKind.TEST, {"mode": "job", "image": "busybox", "command": "true"})
    approval = (
        StageKind.APPROVAL,
        {"approver_ids": [ids["approver"]], "approver_roles": ["admin"], "approvals_needed": 2},
    )
    stages = [deploy, test, approval, test, approval, deploy, test, approval, test, test]
    workflow_id, version_id = add_shop(app, stages, services_count=20)
    with app.app_context():
        from webapp.models import Version, Workflow

        workflow = db.session.get(Workflow, workflow_id)
        version = db.session.get(Version, version_id)
        release = Release(
            project_id=workflow.project_id,
            workflow=workflow,
            environment_id=workflow.environment_id,
            version=version,
            requested_by_id=ids["requester"],
            status=ReleaseStatus.RUNNING,
            started_at=utcnow(),
        )
        now = utcnow()
        for stage in workflow.stages:
            row = ReleaseStage(
                position=stage.position,
                kind=stage.kind,
                name=stage.name,
                settings=stage.settings,
                status=StageStatus.PASSED,
                started_at=now,
                ended_at=now,
                log="".join(f"12:00:{i:02d} step {i} done\n" for i in range(40)),
                message="ok",
            )
            if stage.kind is StageKind.DEPLOY:
                for item in version.services:
                    row.services.append(
                        ReleaseService(
                            service_id=item.service_id,
                            name=item.name,
                            order_group=item.order_group,
                            status=ServiceStatus.PASSED,
                            images={item.name: f"registry.example.com/bench/{item.name}:1.0"},
                            message="rolled out: Deployment " + item.name,
                            started_at=now,
                            ended_at=now,
                        )
                    )
            if stage.kind is StageKind.APPROVAL:
                for name in ("approver", "requester"):
                    row.decisions.append(
                        ApprovalDecision(
                            user_id=ids[name],
                            username=name,
                            decision=Decision.APPROVE,
                            comment="looks good",
                        )
                    )
            release.stages.append(row)
        release.stages[-1].status = StageStatus.RUNNING
        release.stages[-1].ended_at = None
        db.session.add(release)
        db.session.commit()
        release_id = release.id
    client = app.test_client()
    login(client, "requester")
    full_url = f"/releases/{release_id}/timeline"
    first = client.get(full_url).get_data(as_text=True)
    poll_url = re.search(r'hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    for _ in range(20):  # warm caches: templates compiled, connections open
        assert client.get(full_url).status_code == 200
        assert client.get(poll_url).status_code == 204
    unchanged, rendered = [], []
    for _ in range(rounds):
        unchanged.append([])
        rendered.append([])
        for _ in range(polls):
            started = time.perf_counter()
            response = client.get(poll_url)
            unchanged[-1].append(time.perf_counter() - started)
            assert response.status_code == 204
            started = time.perf_counter()
            response = client.get(full_url)
            rendered[-1].append(time.perf_counter() - started)
            assert response.status_code == 200 and b"svc-19" in response.data
    return unchanged, rendered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=20)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="slipway-release-bench-"))
    redis = services.start_redis(workdir / "redis")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    worker = None
    try:
        db_path = workdir / "slipway.sqlite"
        app = build_app(db_path, redis.extra["url"])
        ids = add_users(app)
        env = {
            **os.environ,
            "FLASK_APP": "webapp",
            "SLIPWAY_SECRET_KEY": SECRET,
            "SLIPWAY_DATABASE_URL": f"sqlite:///{db_path}",
            "SLIPWAY_REDIS_URL": redis.extra["url"],
            "SLIPWAY_INSTANCE_PATH": str(workdir),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"],
            env=env,
            start_new_session=True,
            stdout=open(workdir / "worker.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        latency = approval_latency(
            app, ids, args.approvals, f"http://127.0.0.1:{httpd.server_port}/healthz"
        )
        unchanged, rendered = timeline_poll(app, ids, args.polls, args.rounds)
    except Exception:
        log = (workdir / "worker.log").read_text(errors="replace")
        print("worker log (tail):\n" + "\n".join(log.splitlines()[-30:]), file=sys.stderr)
        raise
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(10)
        httpd.shutdown()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    ms = 1000
    print(f"approval click -> next stage started ({len(latency)} approvals, real flask worker):")
    print(
        f"  median {statistics.median(latency) * ms:.0f} ms, "
        f"p95 {percentile(latency, 0.95) * ms:.0f} ms, max {max(latency) * ms:.0f} ms"
    )
    print(
        f"timeline poll, 10 stages / 20 services ({args.rounds} rounds of {args.polls} polls "
        "each, in-process; median of the quietest round, and of all rounds):"
    )
    for label, per_round in (("nothing changed (204)", unchanged), ("full render", rendered)):
        best = min(per_round, key=statistics.median)
        every = [value for values in per_round for value in values]
        print(
            f"  {label}: median {statistics.median(best) * ms:.2f} ms "
            f"(p95 {percentile(best, 0.95) * ms:.2f} ms); all rounds: median "
            f"{statistics.median(every) * ms:.2f} ms, p95 {percentile(every, 0.95) * ms:.2f} ms"
        )


if __name__ == "__main__":
    main()
