"""Find job runs whose work was lost and end them with the reason."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RQStatus
from sqlalchemy import select

from webapp.extensions import db
from webapp.jobruns.queue import redis_connection
from webapp.models import JobRun, JobStatus
from webapp.models.base import utcnow

_RQ_ENDED = {RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED}

# kind -> what to do after a run of that kind was found lost (e.g. start it again).
Recovery = Callable[[JobRun, str], None]
_recoveries: dict[str, Recovery] = {}


def register_recovery(kind: str) -> Callable[[Recovery], Recovery]:
    """Decorator: call ``func(run, reason)`` when the reaper ends a lost run of ``kind``."""

    def decorator(func: Recovery) -> Recovery:
        _recoveries[kind] = func
        return func

    return decorator


def reap() -> list[JobRun]:
    """End every unfinished run whose job vanished or whose worker died. Returns them."""
    connection = redis_connection()
    reaped = []
    unfinished = db.session.scalars(
        select(JobRun).where(JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
    ).all()
    for run in unfinished:
        reason = _lost_reason(run, connection)
        if reason:
            run.status = JobStatus.FAILED
            run.error = reason
            run.ended_at = utcnow()
            reaped.append(run)
    db.session.commit()
    for run in reaped:
        _recover(run)
    return reaped


def _recover(run: JobRun) -> None:
    recovery = _recoveries.get(run.kind)
    if recovery is None:
        return
    try:
        recovery(run, run.error or "")
    except Exception:  # one failed recovery must not stop the others
        db.session.rollback()
        current_app.logger.exception("recovery of job run %s failed", run.id)


def _lost_reason(run: JobRun, connection) -> str | None:
    try:
        job = Job.fetch(run.rq_id, connection=connection)
    except NoSuchJobError:
        return "The job vanished from the queue (Redis lost it); start it again."
    status = job.get_status(refresh=False)
    if status in _RQ_ENDED:
        return f"The worker ended the job ({status}): {_last_line(job)}"
    if run.status == JobStatus.RUNNING and _worker_process_died(run):
        return f"The worker process died (pid {run.pid} on {run.hostname}); start the job again."
    if status == RQStatus.STARTED and _heartbeat_stale(job):
        return "The worker stopped responding (no heartbeat); start the job again."
    return None


def _worker_process_died(run: JobRun) -> bool:
    if not run.pid or run.hostname != socket.gethostname():
        return False
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(run.pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _heartbeat_stale(job: Job) -> bool:
    beat = job.last_heartbeat
    if beat is None:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    grace = timedelta(seconds=current_app.config["JOB_HEARTBEAT_GRACE"])
    return datetime.now(UTC) - beat > grace


def _last_line(job: Job) -> str:
    text = (job.latest_result().exc_string if job.latest_result() else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no reason recorded"
