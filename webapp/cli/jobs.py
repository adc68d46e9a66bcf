"""``flask worker`` and ``flask jobs reap``."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from rq import Worker

from jobs import TASK_MODULES
from webapp.catalog.drift import schedule_syncs
from webapp.jobruns.queue import redis_connection
from webapp.jobruns.reaper import reap
from webapp.notifications.outbox import requeue_stale_deliveries

jobs_cli = AppGroup("jobs", help="Background jobs.")


@jobs_cli.command("reap")
@click.option(
    "--every",
    type=float,
    default=None,
    help="Keep reaping every N seconds, until the process that started this one ends.",
)
def reap_command(every: float | None) -> None:
    """End (or requeue) job runs whose job vanished or whose worker died."""
    if every is None:
        _reap_once()
        return
    parent = os.getppid()
    while os.getppid() == parent:
        try:
            _reap_once()
        except Exception:  # the reaper must outlive a bad round
            current_app.logger.exception("reaper round failed")
        time.sleep(every)


def _reap_once() -> None:
    for run in reap():
        click.echo(f"job {run.id} ({run.title}): {run.error}")
    # The scheduled sync from the clusters: drift is found without anyone pressing Sync.
    for run in schedule_syncs():
        click.echo(f"job {run.id}: {run.title} (scheduled)")
    for delivery_id in requeue_stale_deliveries():
        click.echo(f"notification delivery {delivery_id}: enqueued again")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker (with RQ's scheduler) and, beside it, the reaper every few seconds."""
    app = current_app._get_current_object()
    _preload_tasks()
    reaper = _start_reaper(app)
    worker = Worker(app.config["RQ_QUEUES"], connection=redis_connection())
    try:
        worker.work(with_scheduler=True, burst=burst)
    finally:
        reaper.terminate()
        reaper.wait(10)


def _preload_tasks() -> None:
    """Import the task modules once, so each forked work-horse starts with them loaded."""
    for name in TASK_MODULES:
        importlib.import_module(name)


def _start_reaper(app) -> subprocess.Popen:
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
            "reap",
            "--every",
            str(app.config["REAPER_INTERVAL"]),
        ],
        stdin=subprocess.DEVNULL,
    )
