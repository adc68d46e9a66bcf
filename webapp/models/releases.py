"""Releases: one run of a workflow with one version, its stages, services and approvals."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.models.catalog import Environment, Project, Service
from webapp.models.jobs import JobRun
from webapp.models.people import User
from webapp.models.versions import Version, VersionService
from webapp.models.workflows import StageKind, Workflow


class ReleaseStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    PASSED = "passed"
    FAILED = "failed"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in RELEASE_ENDS

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


RELEASE_ENDS = frozenset(
    {
        ReleaseStatus.PASSED,
        ReleaseStatus.FAILED,
        ReleaseStatus.REJECTED,
        ReleaseStatus.TIMEOUT,
        ReleaseStatus.CANCELLED,
    }
)
# A failed, rejected, timed-out or cancelled release may be retried: queued again.
_RETRY = {ReleaseStatus.QUEUED}

# What a release status may become; anything else is a bug in the caller.
RELEASE_TRANSITIONS: dict[ReleaseStatus, set[ReleaseStatus]] = {
    ReleaseStatus.QUEUED: {ReleaseStatus.RUNNING, ReleaseStatus.CANCELLED},
    ReleaseStatus.RUNNING: {
        ReleaseStatus.WAITING_APPROVAL,
        ReleaseStatus.PASSED,
        ReleaseStatus.FAILED,
        ReleaseStatus.CANCELLED,
    },
    ReleaseStatus.WAITING_APPROVAL: {
        ReleaseStatus.RUNNING,
        ReleaseStatus.REJECTED,
        ReleaseStatus.TIMEOUT,
        ReleaseStatus.CANCELLED,
    },
    ReleaseStatus.PASSED: set(),
    ReleaseStatus.FAILED: _RETRY,
    ReleaseStatus.REJECTED: _RETRY,
    ReleaseStatus.TIMEOUT: _RETRY,
    ReleaseStatus.CANCELLED: _RETRY,
}


class StageStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        """Passed or skipped: a resumed release starts after it."""
        return self in (StageStatus.PASSED, StageStatus.SKIPPED)

    @property
    def label(self) -> str:
        return "not run" if self is StageStatus.PENDING else self.value.replace("_", " ")


STAGE_ENDS = frozenset(
    {
        StageStatus.PASSED,
        StageStatus.FAILED,
        StageStatus.SKIPPED,
        StageStatus.REJECTED,
        StageStatus.TIMEOUT,
        StageStatus.CANCELLED,
    }
)
# What a stage status may become; anything else is a bug in the caller. Any stage may go
# back to pending: a retry (or a re-run) resets it. Running may become running again: a
# resumed executor runs a stage whose previous run was lost.
STAGE_TRANSITIONS: dict[StageStatus, set[StageStatus]] = {
    StageStatus.PENDING: {
        StageStatus.PENDING,
        StageStatus.RUNNING,
        StageStatus.SKIPPED,
        StageStatus.CANCELLED,
    },
    StageStatus.RUNNING: {
        StageStatus.PENDING,
        StageStatus.RUNNING,
        StageStatus.WAITING_APPROVAL,
        StageStatus.PASSED,
        StageStatus.FAILED,
        StageStatus.SKIPPED,
        StageStatus.TIMEOUT,
        StageStatus.CANCELLED,
    },
    StageStatus.WAITING_APPROVAL: {
        StageStatus.PENDING,
        StageStatus.PASSED,
        StageStatus.REJECTED,
        StageStatus.TIMEOUT,
        StageStatus.CANCELLED,
    },
    **{end: {StageStatus.PENDING} for end in STAGE_ENDS},
}


class ServiceStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Release(db.Model):
    __tablename__ = "releases"
    __table_args__ = (Index("ix_releases_environment_status", "environment_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id"), index=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    status: Mapped[ReleaseStatus] = mapped_column(
        Enum(ReleaseStatus, native_enum=False, length=24), default=ReleaseStatus.QUEUED
    )
    # Set by Cancel while the executor runs; it stops at the next safe point.
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    is_rollback: Mapped[bool] = mapped_column(default=False)
    rollback_of_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    attempt: Mapped[int] = mapped_column(default=1)
    message: Mapped[str | None] = mapped_column(Text)
    # The services the requester kept when starting it; None: every service of the version.
    selected_services: Mapped[list[str] | None] = mapped_column(JSON)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship()
    workflow: Mapped[Workflow] = relationship()
    environment: Mapped[Environment] = relationship()
    version: Mapped[Version] = relationship()
    requested_by: Mapped[User | None] = relationship()
    job_run: Mapped[JobRun | None] = relationship()
    rollback_of: Mapped[Release | None] = relationship(remote_side="Release.id")
    stages: Mapped[list[ReleaseStage]] = relationship(
        back_populates="release", cascade="all, delete-orphan", order_by="ReleaseStage.position"
    )

    @property
    def name(self) -> str:
        return f"#{self.id}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None

    def can_become(self, status: ReleaseStatus) -> bool:
        return status in RELEASE_TRANSITIONS[self.status]

    def move_to(self, status: ReleaseStatus, message: str | None = None) -> None:
        """Change status along an allowed transition; ``ValueError`` otherwise."""
        if not self.can_become(status):
            raise ValueError(f"a {self.status} release cannot become {status}")
        self.status = status
        if message is not None:
            self.message = message
        if status is ReleaseStatus.RUNNING and self.started_at is None:
            self.started_at = utcnow()
        self.ended_at = utcnow() if status.finished else None

    def waiting_stage(self) -> ReleaseStage | None:
        return next((s for s in self.stages if s.status is StageStatus.WAITING_APPROVAL), None)

    def __repr__(self) -> str:
        return f"<Release {self.id} {self.status}>"


class ReleaseStage(db.Model):
    """A stage of one release: a copy of the workflow stage taken when the release started."""

    __tablename__ = "release_stages"
    __table_args__ = (UniqueConstraint("release_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    position: Mapped[int]
    kind: Mapped[StageKind] = mapped_column(Enum(StageKind, native_enum=False, length=16))
    name: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[StageStatus] = mapped_column(
        Enum(StageStatus, native_enum=False, length=24), default=StageStatus.PENDING
    )
    message: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # When a waiting approval stage times out.
    deadline_at: Mapped[datetime | None]
    # Polls compare it to answer "nothing changed" without rendering.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    release: Mapped[Release] = relationship(back_populates="stages")
    services: Mapped[list[ReleaseService]] = relationship(
        back_populates="stage",
        cascade="all, delete-orphan",
        order_by="(ReleaseService.order_group, ReleaseService.name)",
    )
    decisions: Mapped[list[ApprovalDecision]] = relationship(
        back_populates="stage", cascade="all, delete-orphan", order_by="ApprovalDecision.id"
    )

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None

    def append_log(self, line: str) -> None:
        stamp = utcnow().strftime("%H:%M:%S")
        self.log = (self.log or "") + f"{stamp} {line}\n"

    def can_become(self, status: StageStatus) -> bool:
        return status in STAGE_TRANSITIONS[self.status]

    def move_to(self, status: StageStatus, message: str | None = None) -> None:
        """Change status along an allowed transition; ``ValueError`` otherwise."""
        if not self.can_become(status):
            raise ValueError(f"a {self.status} stage cannot become {status}")
        self.status = status
        if status is StageStatus.RUNNING:
            self.started_at = utcnow()
            self.ended_at = None
            self.message = None
        elif status in STAGE_ENDS:
            self.message = message
            self.ended_at = utcnow()
        elif status is StageStatus.PENDING:
            self.message = None
            self.started_at = self.ended_at = self.deadline_at = None

    def begin(self) -> None:
        self.move_to(StageStatus.RUNNING)

    def end(self, status: StageStatus, message: str | None = None) -> None:
        self.move_to(status, message)

    def reset(self) -> None:
        """Back to not run, for a retry."""
        self.move_to(StageStatus.PENDING)
        self.log = ""
        self.services.clear()


class ReleaseService(db.Model):
    """One service of a deploy stage: what it got, how it went."""

    __tablename__ = "release_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("release_stages.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), index=True
    )
    version_service_id: Mapped[int | None] = mapped_column(
        ForeignKey("version_services.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(64))
    order_group: Mapped[int] = mapped_column(default=1)
    status: Mapped[ServiceStatus] = mapped_column(
        Enum(ServiceStatus, native_enum=False, length=16), default=ServiceStatus.PENDING
    )
    message: Mapped[str | None] = mapped_column(Text)
    images: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    stage: Mapped[ReleaseStage] = relationship(back_populates="services")
    service: Mapped[Service | None] = relationship()
    version_service: Mapped[VersionService | None] = relationship()

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ApprovalDecision(db.Model):
    """One approver's decision on one approval stage; each approver decides once per attempt."""

    __tablename__ = "approval_decisions"
    __table_args__ = (UniqueConstraint("stage_id", "user_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("release_stages.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Kept as text so the record survives the user's deletion.
    username: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(default=1)
    decision: Mapped[Decision] = mapped_column(Enum(Decision, native_enum=False, length=16))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    stage: Mapped[ReleaseStage] = relationship(back_populates="decisions")


class EnvironmentLock(db.Model):
    """Who holds an environment: one release at a time (the primary key is the lock)."""

    __tablename__ = "environment_locks"

    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True
    )
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), unique=True)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
