"""Find work that is stuck and give it a way out: lost job runs, and rows whose job is gone.

Two kinds of checks, every ``REAPER_INTERVAL`` beside each worker:

- by job (:func:`reap`): a run sent to Redis that Redis no longer knows and that never
  started, or a running run whose work-horse died or whose heartbeat (written by the job
  itself, :mod:`jobs.runtime`) went silent. Such runs end ``failed`` with the reason
  (compare-and-set: a run that finished meanwhile is never overwritten), then the area
  that owns the kind resumes the work (``register_recovery``). A running job with a
  fresh heartbeat is alive, whatever Redis says: it is never started twice.
- by state (:func:`recover_stuck`): areas register checks that find rows in a working
  state with no live job (a release running without an executor, a version creating
  without a copy job, an approval past its deadline) and resume or end them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RQStatus
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.jobruns.queue import redis_connection
from webapp.models import JobRun, JobStatus
from webapp.models.base import utcnow

_RQ_ENDED = {RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED}

# kind -> what to do after a run of that kind was found lost (e.g. start it again).
Recovery = Callable[[JobRun, str], None]
_recoveries: dict[str, Recovery] = {}
# Checks by state: each finds its stuck rows, resumes or ends them, and says what it did.
StateCheck = Callable[[], list[str]]
_state_checks: list[StateCheck] = []


def register_recovery(kind: str) -> Callable[[Recovery], Recovery]:
    """Decorator: call ``func(run, reason)`` when the reaper ends a lost run of ``kind``."""

    def decorator(func: Recovery) -> Recovery:
        _recoveries[kind] = func
        return func

    return decorator


def register_state_check(check: StateCheck) -> StateCheck:
    """Decorator: run ``check()`` every reaper round; it returns lines saying what it did."""
    _state_checks.append(check)
    return check


def live_run_exists(kind: str, target_type: str, target_id: int) -> bool:
    """Is a run of ``kind`` for the target queued (sent or still in the outbox) or running?"""
    return (
        db.session.scalar(
            select(JobRun.id)
            .where(
                JobRun.kind == kind,
                JobRun.target_type == target_type,
                JobRun.target_id == target_id,
                JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            )
            .limit(1)
        )
        is not None
    )


def recover_stuck() -> list[str]:
    """Run every registered state check; one failing check does not stop the others."""
    done: list[str] = []
    for check in _state_checks:
        try:
            done += check()
        except Exception:
            db.session.rollback()
            current_app.logger.exception("state check %s failed", check.__name__)
    return done


def reap() -> list[JobRun]:
    """End every sent, unfinished run whose job vanished or whose worker died. Returns them."""
    connection = redis_connection()
    reaped = []
    unfinished = db.session.scalars(
        select(JobRun).where(
            JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            JobRun.sent_at.is_not(None),
        )
    ).all()
    for run in unfinished:
        reason = _lost_reason(run, connection)
        if reason and _end_lost(run, reason):
            reaped.append(run)
    db.session.commit()
    for run in reaped:
        db.session.refresh(run)
        _recover(run)
    return reaped


def _end_lost(run: JobRun, reason: str) -> bool:
    """Compare-and-set: end the run only if it is still in the state we judged."""
    changed = db.session.execute(
        update(JobRun)
        .where(JobRun.id == run.id, JobRun.status == run.status)
        .values(status=JobStatus.FAILED, error=reason, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


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
    if run.status == JobStatus.RUNNING:
        return _running_lost_reason(run)
    if run.sent_at > utcnow() - timedelta(seconds=current_app.config["JOB_SEND_GRACE"]):
        return None  # just handed over; Redis may not show it yet
    try:
        job = Job.fetch(run.rq_id, connection=connection)
    except NoSuchJobError:
        return "The job vanished from the queue (Redis lost it); start it again."
    status = job.get_status(refresh=False)
    if status in _RQ_ENDED:
        return f"The worker ended the job ({status}): {_last_line(job)}"
    return None


def _running_lost_reason(run: JobRun) -> str | None:
    """A running job is lost when its process died or its own heartbeat went silent."""
    if _worker_process_died(run):
        return f"The worker process died (pid {run.pid} on {run.hostname}); start the job again."
    beat = run.heartbeat_at or run.started_at
    grace = timedelta(seconds=current_app.config["JOB_HEARTBEAT_GRACE"])
    if beat is not None and utcnow() - beat > grace:
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


def _last_line(job: Job) -> str:
    text = (job.latest_result().exc_string if job.latest_result() else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no reason recorded"
