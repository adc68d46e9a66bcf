"""Notifications: a project's webhook targets and the log of what was delivered to them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.crypto import EncryptedText
from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.models.catalog import Project


class TargetKind(enum.StrEnum):
    GENERIC = "generic"
    SLACK = "slack"
    EMAIL = "email"

    @property
    def label(self) -> str:
        return {
            TargetKind.GENERIC: "Generic JSON webhook (HMAC-SHA256 signed)",
            TargetKind.SLACK: "Slack-compatible incoming webhook",
            TargetKind.EMAIL: "E-mail over SMTP (mailto:addresses)",
        }[self]


# What can be notified, in the order the form lists them.
EVENTS: dict[str, str] = {
    "version_created": "Version created",
    "version_failed": "Version failed",
    "release_started": "Release started",
    "release_waiting_approval": "Release waiting for approval",
    "release_passed": "Release passed",
    "release_failed": "Release failed",
    "release_rejected": "Release rejected",
    "release_timeout": "Release timed out",
}


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class NotificationTarget(db.Model):
    """Where an admin wants a project's events sent; only these URLs are ever called."""

    __tablename__ = "notification_targets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[TargetKind] = mapped_column(Enum(TargetKind, native_enum=False, length=16))
    # http(s):// for webhooks; mailto:a@example.com,b@example.com for e-mail.
    url: Mapped[str] = mapped_column(String(1024))
    # Signs generic deliveries (HMAC-SHA256); encrypted at rest and never rendered.
    secret: Mapped[str | None] = mapped_column(EncryptedText)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship()
    deliveries: Mapped[list[NotificationDelivery]] = relationship(
        back_populates="target", cascade="all, delete-orphan", passive_deletes=True
    )


class NotificationDelivery(db.Model):
    """One event for one target: the payload taken when it happened and how sending went."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_target_id_id", "target_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("notification_targets.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(48))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int]
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    target: Mapped[NotificationTarget] = relationship(back_populates="deliveries")
