"""What every Slipway job does around its work: app context, JobRun status, errors."""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app, has_app_context
from sqlalchemy import update

from webapp import create_app
from webapp.extensions import db
from webapp.models import JobRun, JobStatus
from webapp.models.base import utcnow

_app: Flask | None = None


@dataclass(frozen=True)
class Outcome:
    """A job's result: a short text for people and data for the pages that read it."""

    message: str
    data: dict = field(default_factory=dict)


def _ensure_app_context():
    """The worker's app context when there is one; otherwise build an app once, lazily."""
    global _app
    if has_app_context():
        return None
    if _app is None:
        _app = create_app()
    return _app.app_context()


def job_run(func: Callable[..., str | Outcome | None]) -> Callable[..., str | None]:
    """Wrap ``func(job_run_id, ...)``: mark the run running, then succeeded or failed.

    ``func`` returns a short result text for the UI (or an :class:`Outcome`). An
    exception marks the run failed with its message and is re-raised so RQ records it too.
    """

    @functools.wraps(func)
    def wrapper(job_run_id: int, *args, **kwargs):
        context = _ensure_app_context()
        if context is not None:
            context.push()
        try:
            return _run(func, job_run_id, *args, **kwargs)
        finally:
            if context is not None:
                context.pop()

    return wrapper


def _run(func, job_run_id, *args, **kwargs):
    # A forked work-horse must not reuse the parent's pooled connections.
    db.session.remove()
    db.engine.dispose(close=False)
    run = db.session.get(JobRun, job_run_id)
    if run is None:
        raise LookupError(f"job run {job_run_id} does not exist")
    # Compare-and-set: a job pushed twice, or one the reaper already ended, runs no more.
    now = utcnow()
    claimed = db.session.execute(
        update(JobRun)
        .where(JobRun.id == job_run_id, JobRun.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            hostname=socket.gethostname(),
            pid=os.getpid(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return f"Job {job_run_id} was already {db.session.get(JobRun, job_run_id).status}."
    heartbeat = _Heartbeat(job_run_id, current_app.config["JOB_HEARTBEAT_INTERVAL"])
    try:
        result = func(job_run_id, *args, **kwargs)
    except Exception as exc:
        heartbeat.stop()
        db.session.rollback()
        run = db.session.get(JobRun, job_run_id)
        run.status = JobStatus.FAILED
        run.error = str(exc) or exc.__class__.__name__
        run.ended_at = utcnow()
        db.session.commit()
        current_app.logger.info("job %s failed: %s", job_run_id, run.error)
        raise
    heartbeat.stop()
    run = db.session.get(JobRun, job_run_id)
    run.status = JobStatus.SUCCEEDED
    if isinstance(result, Outcome):
        run.result, run.data = result.message, result.data
    else:
        run.result = result
    run.ended_at = utcnow()
    db.session.commit()
    return run.result


class _Heartbeat:
    """Writes ``JobRun.heartbeat_at`` every few seconds while the job runs.

    The reaper reads it to tell a job Redis forgot (after a restart) from a dead
    work-horse: a fresh heartbeat means the work is alive and must not start again.
    """

    def __init__(self, job_run_id: int, interval: float) -> None:
        self.job_run_id = job_run_id
        self.interval = float(interval)
        self.stopped = threading.Event()
        self.engine = db.engine
        threading.Thread(target=self._beat, daemon=True, name="slipway-heartbeat").start()

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(JobRun)
                        .where(JobRun.id == self.job_run_id, JobRun.status == JobStatus.RUNNING)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is retried; the job goes on
                continue

    def stop(self) -> None:
        self.stopped.set()
