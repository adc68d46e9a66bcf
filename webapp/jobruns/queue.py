"""The one way work is enqueued: an RQ job plus the JobRun row that records it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from webapp.extensions import db
from webapp.models import JobRun, JobStatus, User
from webapp.models.base import utcnow


def redis_connection() -> Redis:
    return Redis.from_url(current_app.config["REDIS_URL"])


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_connection())


def enqueue(
    func: Callable,
    *args,
    kind: str,
    title: str,
    target=None,
    user: User | None = None,
    queue: str = "default",
    delay: timedelta | None = None,
) -> JobRun:
    """Record a JobRun, then enqueue ``func(job_run_id, *args)`` under the same id.

    The row is committed before the job exists, so a worker never finds a job
    without its row. If Redis refuses, the row ends ``failed`` with the reason.
    With ``delay``, RQ's scheduler starts the job later (``flask worker`` runs it).
    """
    run = JobRun(
        kind=kind,
        title=title,
        rq_id=uuid.uuid4().hex,
        status=JobStatus.QUEUED,
        target_type=target.__class__.__name__.lower() if target is not None else None,
        target_id=getattr(target, "id", None),
        created_by_id=getattr(user, "id", None),
    )
    db.session.add(run)
    db.session.commit()
    options = {
        "job_id": run.rq_id,
        "job_timeout": current_app.config["JOB_TIMEOUT"],
        "result_ttl": 86400,
        "failure_ttl": 7 * 86400,
    }
    try:
        rq_queue = get_queue(queue)
        if delay is None:
            rq_queue.enqueue(func, run.id, *args, **options)
        else:
            rq_queue.enqueue_in(delay, func, run.id, *args, **options)
    except RedisError as exc:
        run.status = JobStatus.FAILED
        run.error = f"The job queue (Redis) is unreachable: {exc}. Start Redis and try again."
        run.ended_at = utcnow()
        db.session.commit()
    return run
