"""A row per background job: the record the UI polls, whatever Redis says."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.models.people import User


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobRun(db.Model):
    """A job: what to run, the record of how it went, and (until sent) its outbox entry.

    The row is written in the same commit as the state change that needs the job;
    a dispatcher pushes it to Redis (``sent_at``) once it is due (``run_at``).
    """

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_unsent", "sent_at", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    rq_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), default=JobStatus.QUEUED, index=True
    )
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
    # What the job found, for pages to read as data (e.g. chart name -> newest version).
    data: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    hostname: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None]
    # The outbox: the task's dotted name, its arguments after the run id, the RQ queue,
    # when it is due (None: now) and when the dispatcher pushed it to Redis.
    func: Mapped[str | None] = mapped_column(String(255))
    args: Mapped[list | None] = mapped_column(JSON)
    queue: Mapped[str | None] = mapped_column(String(64))
    run_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Written by the running job itself every few seconds: "this work is alive",
    # whatever Redis remembers after a restart.
    heartbeat_at: Mapped[datetime | None]

    created_by: Mapped[User | None] = relationship()

    @property
    def waiting_for_queue(self) -> bool:
        """Due, but not yet handed to Redis: the job queue was unreachable so far."""
        return (
            self.status is JobStatus.QUEUED
            and self.sent_at is None
            and (self.run_at is None or self.run_at <= utcnow())
        )

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None
