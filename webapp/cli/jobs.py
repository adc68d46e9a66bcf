"""``flask worker`` and ``flask jobs reap``."""

from __future__ import annotations

import threading

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from rq import Worker

from webapp.jobruns.queue import redis_connection
from webapp.jobruns.reaper import reap

jobs_cli = AppGroup("jobs", help="Background jobs.")


@jobs_cli.command("reap")
def reap_command() -> None:
    """End job runs whose job vanished or whose worker died."""
    for run in reap():
        click.echo(f"job {run.id} ({run.title}): {run.error}")


def _reap_forever(app, stop: threading.Event) -> None:
    interval = app.config["REAPER_INTERVAL"]
    while not stop.wait(interval):
        with app.app_context():
            try:
                reap()
            except Exception:  # the reaper must outlive a bad round
                app.logger.exception("reaper round failed")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker (with RQ's scheduler) and the reaper every few seconds."""
    app = current_app._get_current_object()
    stop = threading.Event()
    reaper = threading.Thread(target=_reap_forever, args=(app, stop), daemon=True, name="reaper")
    reaper.start()
    worker = Worker(app.config["RQ_QUEUES"], connection=redis_connection())
    try:
        worker.work(with_scheduler=True, burst=burst)
    finally:
        stop.set()
