"""The one way work is enqueued: a JobRun row that is both the record and the outbox entry.

``enqueue`` only writes the row, so the state change that needs the job and the job
are one commit. After any commit that wrote such rows the process tries to hand them
to Redis at once (:func:`send_pending`); whatever Redis refused, or what is not due
yet, the dispatcher beside each worker (``flask worker``) sends later. No page decides
what it tells the user from a Redis call: it reads the row (``JobRun.waiting_for_queue``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import JobRun, JobStatus, User
from webapp.models.base import utcnow

_PENDING = "slipway_outbox"  # session.info key: ids of job rows written in this transaction


def redis_connection(**options) -> Redis:
    return Redis.from_url(current_app.config["REDIS_URL"], **options)


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_connection())


def enqueue(
    func: Callable | str,
    *args,
    kind: str,
    title: str,
    target=None,
    user: User | None = None,
    queue: str = "default",
    delay: timedelta | None = None,
    commit: bool = True,
) -> JobRun:
    """Write the job ``func(job_run_id, *args)`` as a queued JobRun row (the outbox entry).

    With ``commit=False`` the row joins the caller's transaction: the state change and
    its job commit together or not at all. It is sent to Redis right after the commit
    when Redis answers, else by the dispatcher once Redis is back. With ``delay`` it is
    due that much later; the dispatcher sends it then (no dependence on RQ's scheduler).
    """
    name = func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"
    run = JobRun(
        kind=kind,
        title=title,
        rq_id=uuid.uuid4().hex,
        status=JobStatus.QUEUED,
        target_type=target.__class__.__name__.lower() if target is not None else None,
        target_id=getattr(target, "id", None),
        created_by_id=getattr(user, "id", None),
        func=name,
        args=list(args),
        queue=queue,
        run_at=utcnow() + delay if delay else None,
    )
    db.session.add(run)
    db.session.flush()
    db.session.info.setdefault(_PENDING, set()).add(run.id)
    if commit:
        db.session.commit()
    return run


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if ids and has_app_context():
        send_pending(ids, connect_timeout=1.0)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def send_pending(ids=None, *, connect_timeout: float = 5.0) -> int:
    """Push due, unsent job rows to Redis (only ``ids`` if given). Returns how many went.

    Each row is claimed first (compare-and-set on ``sent_at``), so two dispatchers never
    push one job twice; a push Redis refuses un-claims the row for the next round. Runs
    on its own connection: it is called right after a commit, when the session is closed.
    """
    now = utcnow()
    query = select(JobRun.id, JobRun.rq_id, JobRun.func, JobRun.args, JobRun.queue).where(
        JobRun.sent_at.is_(None),
        JobRun.status == JobStatus.QUEUED,
        JobRun.func.is_not(None),
        or_(JobRun.run_at.is_(None), JobRun.run_at <= now),
    )
    if ids is not None:
        query = query.where(JobRun.id.in_(list(ids)))
    with db.engine.connect() as connection:
        rows = connection.execute(query.order_by(JobRun.id)).all()
    if not rows:
        return 0
    redis = redis_connection(socket_connect_timeout=connect_timeout, socket_timeout=5)
    options = {
        "job_timeout": current_app.config["JOB_TIMEOUT"],
        "result_ttl": 86400,
        "failure_ttl": 7 * 86400,
    }
    sent = 0
    for row in rows:
        if not _mark(row.id, sent=True):
            continue  # another dispatcher has it
        try:
            Queue(row.queue or "default", connection=redis).enqueue(
                row.func, row.id, *(row.args or []), job_id=row.rq_id, **options
            )
        except RedisError as exc:
            _mark(row.id, sent=False)
            current_app.logger.warning("job %s stays in the outbox: %s", row.id, exc)
            break  # Redis is down: the rest wait for the next round too
        sent += 1
    return sent


def _mark(run_id: int, *, sent: bool) -> bool:
    with db.engine.begin() as connection:
        changed = connection.execute(
            update(JobRun)
            .where(
                JobRun.id == run_id,
                JobRun.sent_at.is_(None) if sent else JobRun.sent_at.is_not(None),
                JobRun.status == JobStatus.QUEUED,
            )
            .values(sent_at=utcnow() if sent else None)
        ).rowcount
    return changed == 1
