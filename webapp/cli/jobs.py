"""``flask worker``, ``flask jobs dispatch`` and ``flask jobs reap``."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from redis.exceptions import RedisError
from rq import Worker

from jobs import TASK_MODULES
from webapp.catalog.drift import schedule_syncs
from webapp.jobruns.queue import redis_connection, send_pending
from webapp.jobruns.reaper import reap, recover_stuck
from webapp.notifications.outbox import requeue_stale_deliveries

jobs_cli = AppGroup("jobs", help="Background jobs.")

MAX_BACKOFF = 30.0


@jobs_cli.command("reap")
@click.option(
    "--every",
    type=float,
    default=None,
    help="Keep reaping every N seconds, until the process that started this one ends.",
)
def reap_command(every: float | None) -> None:
    """End (or requeue) lost job runs; resume or end work stuck without a job."""
    if every is None:
        _reap_once()
        return
    parent = os.getppid()
    while os.getppid() == parent:
        _reap_once()
        time.sleep(every)


@jobs_cli.command("dispatch")
@click.option(
    "--every",
    type=float,
    default=None,
    help="Keep sending every N seconds (and reaping every REAPER_INTERVAL), until the "
    "process that started this one ends.",
)
def dispatch_command(every: float | None) -> None:
    """Send due job rows to Redis (the outbox); with --every, reap beside it too."""
    if every is None:
        click.echo(f"{send_pending()} job(s) sent")
        return
    parent = os.getppid()
    reap_every = float(current_app.config["REAPER_INTERVAL"])
    next_reap = time.monotonic()
    while os.getppid() == parent:
        try:
            send_pending()
        except Exception:  # Redis or the database away: the next round tries again
            current_app.logger.exception("dispatch round failed")
        if time.monotonic() >= next_reap:
            _reap_once()
            next_reap = time.monotonic() + reap_every
        time.sleep(every)


def _reap_once() -> None:
    # By state first: it needs only the database, so it works while Redis is down.
    try:
        for line in recover_stuck():
            click.echo(line)
    except Exception:  # the reaper must outlive a bad round
        current_app.logger.exception("state check round failed")
    try:
        for run in reap():
            click.echo(f"job {run.id} ({run.title}): {run.error}")
    except Exception:
        current_app.logger.exception("reaper round failed")
    try:
        # The scheduled sync from the clusters: drift is found without anyone pressing Sync.
        for run in schedule_syncs():
            click.echo(f"job {run.id}: {run.title} (scheduled)")
        for delivery_id in requeue_stale_deliveries():
            click.echo(f"notification delivery {delivery_id}: enqueued again")
    except Exception:
        current_app.logger.exception("sync and notification round failed")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker and, beside it, the dispatcher + reaper.

    When Redis goes away the worker does not exit: it waits with backoff and starts
    again. Timeouts are due rows the dispatcher sends, so no RQ scheduler is needed.
    """
    app = current_app._get_current_object()
    _preload_tasks()
    dispatcher = _start_dispatcher(app)
    backoff = 1.0
    try:
        while True:
            worker = None
            started = time.monotonic()
            try:
                worker = Worker(app.config["RQ_QUEUES"], connection=redis_connection())
                worker.work(burst=burst)
            except RedisError as exc:
                app.logger.warning("worker: Redis unreachable (%s)", exc)
            # SIGTERM/SIGINT: RQ notes the request (idle, it ends work() at once; busy, after
            # the job). Either way the worker stops rather than starting over.
            if burst or (worker is not None and worker._shutdown_requested_date is not None):
                return
            # RQ's loop ends on a Redis error (e.g. while saving a job's state): start over.
            app.logger.warning("worker: the job queue failed; starting again in %.0f s", backoff)
            if time.monotonic() - started > 60:  # it ran fine for a while: a fresh blip
                backoff = 1.0
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
    finally:
        dispatcher.terminate()
        dispatcher.wait(10)


def _preload_tasks() -> None:
    """Import the task modules once, so each forked work-horse starts with them loaded."""
    for name in TASK_MODULES:
        importlib.import_module(name)


def _start_dispatcher(app) -> subprocess.Popen:
    # A process of its own, not a thread: RQ forks a work-horse per job, and a
    # thread caught mid-query at that moment would leave SQLite locked in the child.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            app.import_name,
            "jobs",
            "dispatch",
            "--every",
            str(app.config["DISPATCH_INTERVAL"]),
        ],
        stdin=subprocess.DEVNULL,
    )
