"""Version creation benchmark: Create -> ``success`` through the web app and a worker.

Run from the repository root::

    .venv/bin/python benchmarks/version_create.py [--services 20] [--min-mib 10] [--max-mib 50]

Starts Redis and a source docker-registry, pushes one single-platform image per
service (sizes spread evenly from ``--min-mib`` to ``--max-mib`` of random
data), then, for each of ``--rounds`` rounds, into two fresh target registries
(the two ways take turns, so machine noise hits both), measures:

- engine: ``jobs.oci.registry.copy_image`` alone, for the same images, with the same
  concurrency the job uses (4 images at a time), each followed by the same
  ``resolve`` check of the target, into a fresh registry;
- slipway: the web app (in-process test client, signed in as a test engineer)
  walks the three steps and presses Create; a ``flask worker`` process, already
  running, copies; the time runs from the Create request to the version's
  ``success`` as read from the database (polled every 20 ms);
- the server time of one progress poll (``GET /versions/<id>/progress``): from
  Flask's before_request to its after_request (sign-in check, queries, template),
  median over the polls made while the version was creating and 200 made after.

Slipway's overhead is slipway minus engine. It prints one small table.
Not run by ``make test``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.oci.registry import copy_image, resolve  # noqa: E402
from jobs.versions import MAX_PARALLEL_IMAGES  # noqa: E402
from sandbox import services  # noqa: E402
from sandbox.images import push_demo_image  # noqa: E402

PASSWORD = "benchmark-password"


def push_images(address: str, count: int, min_mib: int, max_mib: int) -> dict[str, int]:
    """One image per service, ``svc-NN``; returns name -> bytes of random data."""
    sizes = {}
    for i in range(count):
        mib = min_mib + (max_mib - min_mib) * i / max(1, count - 1)
        size = int(mib * (1 << 20))
        name = f"svc-{i:02d}"
        push_demo_image(
            address, f"src/{name}", "1.0", layer_sizes=(size,), compress=False, seed=name
        )
        sizes[name] = size
    return sizes


def engine_time(source: str, target: str, names: list[str]) -> float:
    def one(name: str) -> None:
        result = copy_image(f"{source}/src/{name}:1.0", f"{target}/prod/{name}:v1")
        assert resolve(f"{target}/prod/{name}:v1") == result.digest

    os.sync()
    started = time.perf_counter()
    with ThreadPoolExecutor(MAX_PARALLEL_IMAGES) as pool:
        list(pool.map(one, names))
    return time.perf_counter() - started


def build_app(workdir: Path, redis_url: str):
    from flask import g, request
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Role, User

    config = {
        "SECRET_KEY": "benchmark-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'slipway.sqlite'}",
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "TESTING": True,
    }
    app = create_app(config)
    app.config["POLL_TIMES"] = []

    @app.before_request
    def _start_clock():
        g.started = time.perf_counter()

    @app.after_request
    def _stop_clock(response):
        if request.endpoint == "versions.progress":
            app.config["POLL_TIMES"].append(time.perf_counter() - g.started)
        return response

    # Run the clock first, before the sign-in check.
    app.before_request_funcs[None].insert(0, app.before_request_funcs[None].pop())
    with app.app_context():
        upgrade()
        user = User(username="tester", role=Role.TEST_ENGINEER)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    return app, config


def start_worker(config: dict, workdir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "FLASK_APP": "webapp",
        "SLIPWAY_SECRET_KEY": config["SECRET_KEY"],
        "SLIPWAY_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "SLIPWAY_REDIS_URL": config["REDIS_URL"],
        "SLIPWAY_INSTANCE_PATH": str(workdir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        env=env,
        start_new_session=True,
        stdout=open(workdir / "worker.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )


def wait_for_worker(redis_url: str, timeout: float = 30) -> None:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while not Worker.all(connection=connection):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start; see worker.log")
        time.sleep(0.1)


def make_catalog(app, source: str, names: list[str]):
    """The project and its ``dev`` environment running the source images."""
    from tests.webapp.version_fixtures import make_version_catalog

    return make_version_catalog(
        app, "127.0.0.1:1", {name: {name: f"{source}/src/{name}:1.0"} for name in names}
    )


def add_registry(app, address: str, name: str) -> int:
    from webapp.extensions import db
    from webapp.models import Registry

    with app.app_context():
        registry = Registry(name=name, address=address, namespace="prod", plain_http=True)
        db.session.add(registry)
        db.session.commit()
        return registry.id


def slipway_time(app, cat, registry_id: int, name: str) -> tuple[float, int, int]:
    """Seconds from Create to success, polls made meanwhile, and the version's id."""
    from sqlalchemy import select

    from tests.webapp.version_fixtures import images_post, step_url
    from webapp.extensions import db
    from webapp.models import Version

    client = app.test_client()
    client.post("/auth/login", data={"username": "tester", "password": PASSWORD})
    client.post(step_url(cat, 1), data={"name": name, "action": "next"})
    client.post(
        step_url(cat, 2),
        data={
            "environment_id": cat.environment_id,
            "service_ids": list(cat.service_ids.values()),
            "action": "next",
        },
    )
    page = client.post(step_url(cat, 3), data={"registry_id": registry_id, "action": "registry"})
    data = images_post(page.get_data(as_text=True), "create", registry_id=registry_id)
    os.sync()
    started = time.perf_counter()
    created = client.post(step_url(cat, 3), data=data)
    assert created.status_code == 302, created.status_code
    version_id = int(created.headers["Location"].rsplit("/", 1)[1])
    progress_url = f"/versions/{version_id}/progress"
    polls = 0
    next_poll = 0.0
    while True:
        with app.app_context():
            status = db.session.scalar(select(Version.status).where(Version.id == version_id))
        if status.finished:
            elapsed = time.perf_counter() - started
            break
        now = time.perf_counter()
        if now >= next_poll:  # a browser polls once a second; poll a little more often
            client.get(progress_url)
            polls += 1
            next_poll = now + 0.25
        time.sleep(0.02)
    with app.app_context():
        version = db.session.get(Version, version_id)
        if version.status != "success":
            raise RuntimeError(f"the version ended {version.status}: {version.error}")
    for _ in range(200):
        assert client.get(progress_url).status_code == 286
    return elapsed, polls, version_id


def breakdown(app, version_id: int) -> dict[str, float]:
    """Where Slipway's time went, from the job run's timestamps."""
    from webapp.extensions import db
    from webapp.models import JobRun, Version

    with app.app_context():
        version = db.session.get(Version, version_id)
        run = db.session.get(JobRun, version.job_run_id)
        return {
            "Create request -> job queued": (run.created_at - version.created_at).total_seconds(),
            "queued -> job started": (run.started_at - run.created_at).total_seconds(),
            "job running": (run.ended_at - run.started_at).total_seconds(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--min-mib", type=int, default=10)
    parser.add_argument("--max-mib", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="slipway-version-bench-"))
    started = []
    worker = None
    try:
        redis = services.start_redis(workdir / "redis")
        source = services.start_registry(workdir / "src")
        started += [redis, source]
        sizes = push_images(source.address, args.services, args.min_mib, args.max_mib)
        names = sorted(sizes)
        total_mib = sum(sizes.values()) / (1 << 20)
        app, config = build_app(workdir, redis.extra["url"])
        cat = make_catalog(app, source.address, names)
        worker = start_worker(config, workdir)
        wait_for_worker(config["REDIS_URL"])
        rows = []
        for number in range(1, args.rounds + 1):
            # Fresh target registries each round, the two ways taking turns.
            engine_target = services.start_registry(workdir / f"engine{number}")
            slipway_target = services.start_registry(workdir / f"slipway{number}")
            started += [engine_target, slipway_target]
            engine = engine_time(source.address, engine_target.address, names)
            registry_id = add_registry(app, slipway_target.address, f"target{number}")
            slipway, polls, version_id = slipway_time(app, cat, registry_id, f"v{number}")
            rows.append((number, engine, slipway, polls, breakdown(app, version_id)))
            engine_target.stop()
            slipway_target.stop()
        print(
            f"{len(names)} services, one image each, {args.min_mib}-{args.max_mib} MiB "
            f"({total_mib:.0f} MiB), {MAX_PARALLEL_IMAGES} images at a time"
        )
        header = f"{'round':>5} {'engine s':>9} {'slipway s':>10} {'overhead s':>11}"
        header += "".join(f" {label + ' s':>30}" for label in rows[0][4])
        print(header)
        print("-" * len(header))
        for number, engine, slipway, _, parts in rows:
            line = f"{number:5d} {engine:9.2f} {slipway:10.2f} {slipway - engine:11.2f}"
            print(line + "".join(f" {value:30.2f}" for value in parts.values()))
        best_engine = min(row[1] for row in rows)
        best_slipway = min(row[2] for row in rows)
        print(
            f"best of {len(rows)}: engine {best_engine:.2f} s, slipway {best_slipway:.2f} s, "
            f"overhead {best_slipway - best_engine:.2f} s"
        )
        overheads = [row[2] - row[1] for row in rows]
        print(f"per-round overhead: median {statistics.median(overheads):.2f} s")
        polls = app.config["POLL_TIMES"]
        print(
            f"progress poll server time: median {statistics.median(polls) * 1000:.2f} ms over "
            f"{len(polls)} polls ({sum(row[3] for row in rows)} while creating)"
        )
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        for service in reversed(started):
            service.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
