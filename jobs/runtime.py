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

from jobs.helm.charts import ChartError
from jobs.helm.repository import ChartRepositoryError
from jobs.helm.values import ValuesError
from jobs.kube.access import ClusterError
from jobs.kube.kubeconfig_policy import KubeconfigRefused
from jobs.oci.errors import RegistryError
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


class JobFailed(Exception):
    """A job failure whose message Slipway wrote for people: what, where, what to do."""


# Errors whose messages Slipway writes itself (they name the object and the fix and
# never quote files or secrets). Anything else is an unexpected failure.
_OWN_ERRORS: tuple[type[BaseException], ...] = (
    JobFailed,
    ClusterError,
    RegistryError,
    ChartError,
    ChartRepositoryError,
    ValuesError,
    KubeconfigRefused,
)


def public_message(exc: BaseException, what: str) -> str:
    """The text pages show for a failed job: Slipway's own message, never raw exception text."""
    # ``raise LookupError("the cluster was deleted")`` is how jobs say a row vanished;
    # subclasses (KeyError, IndexError) are programming errors and carry raw values.
    if isinstance(exc, _OWN_ERRORS) or type(exc) is LookupError:
        text = str(exc).strip()
        if text:
            return text[:2000]
    return (
        f"{what} failed unexpectedly ({exc.__class__.__name__}). "
        "The details are in the worker log; ask an admin to look there."
    )


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
        # The raw text (which may quote upstream bodies or files) goes to the log only.
        current_app.logger.exception("job %s failed", job_run_id)
        run = db.session.get(JobRun, job_run_id)
        run.status = JobStatus.FAILED
        run.error = public_message(exc, run.title)
        run.ended_at = utcnow()
        db.session.commit()
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
