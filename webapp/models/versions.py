"""Versions: a named, immutable freeze of an environment's services and images."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.models.catalog import Environment, Project, Registry, Service
from webapp.models.jobs import JobRun
from webapp.models.people import User


class VersionStatus(enum.StrEnum):
    CREATING = "creating"
    SUCCESS = "success"
    FAILED = "failed"
    RETRYING = "retrying"

    @property
    def finished(self) -> bool:
        return self in (VersionStatus.SUCCESS, VersionStatus.FAILED)


# What a status may become; anything else is a bug in the caller.
VERSION_TRANSITIONS: dict[VersionStatus, set[VersionStatus]] = {
    VersionStatus.CREATING: {VersionStatus.SUCCESS, VersionStatus.FAILED},
    VersionStatus.RETRYING: {VersionStatus.SUCCESS, VersionStatus.FAILED},
    VersionStatus.FAILED: {VersionStatus.RETRYING},
    VersionStatus.SUCCESS: set(),
}


class ImageStatus(enum.StrEnum):
    QUEUED = "queued"
    COPYING = "copying"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class ChartStatus(enum.StrEnum):
    """How packaging and pushing one Helm chart of a version went."""

    QUEUED = "queued"
    PACKAGING = "packaging"
    DONE = "done"
    FAILED = "failed"


class Version(db.Model):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_versions_project_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    source_environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("environments.id", ondelete="SET NULL")
    )
    # Kept as text: the version stays readable when the environment is deleted.
    source_environment_name: Mapped[str] = mapped_column(String(64), default="")
    target_registry_id: Mapped[int | None] = mapped_column(
        ForeignKey("registries.id", ondelete="SET NULL")
    )
    target_registry_address: Mapped[str] = mapped_column(String(255), default="")
    # Helm projects: the OCI chart repository (a catalog registry) and its host/path.
    chart_registry_id: Mapped[int | None] = mapped_column(
        ForeignKey("registries.id", ondelete="SET NULL")
    )
    chart_repository: Mapped[str] = mapped_column(String(255), default="")
    created_from_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"))
    # Helm: the global variables block as last applied in the form (None: none applied).
    globals_yaml: Mapped[str | None] = mapped_column(Text)
    status: Mapped[VersionStatus] = mapped_column(
        Enum(VersionStatus, native_enum=False, length=16), default=VersionStatus.CREATING
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)

    project: Mapped[Project] = relationship()
    source_environment: Mapped[Environment | None] = relationship()
    target_registry: Mapped[Registry | None] = relationship(foreign_keys=[target_registry_id])
    chart_registry: Mapped[Registry | None] = relationship(foreign_keys=[chart_registry_id])
    created_by: Mapped[User | None] = relationship()
    job_run: Mapped[JobRun | None] = relationship()
    created_from: Mapped[Version | None] = relationship(remote_side="Version.id")
    labels: Mapped[list[VersionLabel]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="VersionLabel.name"
    )
    services: Mapped[list[VersionService]] = relationship(
        back_populates="version",
        cascade="all, delete-orphan",
        order_by="(VersionService.order_group, VersionService.name)",
    )
    images: Mapped[list[VersionImage]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="VersionImage.id"
    )

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def charts(self) -> list[VersionService]:
        """The services that carry a Helm chart (none for K8s YAML versions)."""
        return [service for service in self.services if service.is_chart]

    def can_become(self, status: VersionStatus) -> bool:
        return status in VERSION_TRANSITIONS[self.status]

    def move_to(self, status: VersionStatus, error: str | None = None) -> None:
        """Change status along an allowed transition; ``ValueError`` otherwise."""
        if not self.can_become(status):
            raise ValueError(f"a {self.status} version cannot become {status}")
        self.status = status
        self.error = error
        self.finished_at = utcnow() if status.finished else None

    def __repr__(self) -> str:
        return f"<Version {self.name} {self.status}>"


class VersionLabel(db.Model):
    __tablename__ = "version_labels"
    __table_args__ = (UniqueConstraint("version_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)

    version: Mapped[Version] = relationship(back_populates="labels")


class VersionService(db.Model):
    """One service of a version: its startup order group and its YAML with target images."""

    __tablename__ = "version_services"
    __table_args__ = (UniqueConstraint("version_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(64))
    order_group: Mapped[int] = mapped_column(default=1)
    yaml: Mapped[str] = mapped_column(Text, deferred=True)
    # Helm services: the chart packaged with the values the test environment proved.
    chart_name: Mapped[str | None] = mapped_column(String(128))
    source_chart_version: Mapped[str | None] = mapped_column(String(64))
    # Empty until the job picks it when the form left it to the suggestion.
    chart_version: Mapped[str | None] = mapped_column(String(64))
    values_yaml: Mapped[str | None] = mapped_column(Text, deferred=True)
    image_paths: Mapped[str | None] = mapped_column(Text)
    chart_archive: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    chart_digest: Mapped[str | None] = mapped_column(String(80))  # sha256 of the .tgz
    chart_size: Mapped[int | None] = mapped_column(BigInteger)
    chart_reference: Mapped[str | None] = mapped_column(String(512))  # oci://...:version
    chart_manifest_digest: Mapped[str | None] = mapped_column(String(80))
    chart_status: Mapped[ChartStatus | None] = mapped_column(
        Enum(ChartStatus, native_enum=False, length=16)
    )
    chart_error: Mapped[str | None] = mapped_column(Text)
    # The service's configuration against its source environment when the version was made.
    environment_diff: Mapped[str | None] = mapped_column(Text, deferred=True)

    version: Mapped[Version] = relationship(back_populates="services")
    service: Mapped[Service | None] = relationship()
    images: Mapped[list[VersionImage]] = relationship(
        back_populates="version_service", order_by="VersionImage.container"
    )

    @property
    def is_chart(self) -> bool:
        return self.chart_name is not None


class VersionImage(db.Model):
    """One container image of a version and how its copy went."""

    __tablename__ = "version_images"
    __table_args__ = (UniqueConstraint("version_service_id", "container"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    version_service_id: Mapped[int] = mapped_column(ForeignKey("version_services.id"), index=True)
    container: Mapped[str] = mapped_column(String(128))
    source_ref: Mapped[str] = mapped_column(String(512))
    source_digest: Mapped[str | None] = mapped_column(String(80))
    target_ref: Mapped[str] = mapped_column(String(512))
    target_digest: Mapped[str | None] = mapped_column(String(80))
    push: Mapped[bool] = mapped_column(default=True)
    status: Mapped[ImageStatus] = mapped_column(
        Enum(ImageStatus, native_enum=False, length=16), default=ImageStatus.QUEUED
    )
    error: Mapped[str | None] = mapped_column(Text)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_copied: Mapped[int] = mapped_column(BigInteger, default=0)
    media_type: Mapped[str | None] = mapped_column(String(128))
    platforms: Mapped[list[str] | None] = mapped_column(JSON)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]

    version: Mapped[Version] = relationship(back_populates="images")
    version_service: Mapped[VersionService] = relationship(back_populates="images")

    @property
    def percent(self) -> int:
        if self.status == ImageStatus.DONE:
            return 100
        if not self.bytes_total:
            return 0
        return min(100, int(self.bytes_copied * 100 / self.bytes_total))


def new_token() -> str:
    return uuid.uuid4().hex


class VersionDraft(db.Model):
    """The create form between steps; one active (unconsumed) draft per user and project."""

    __tablename__ = "version_drafts"
    __table_args__ = (
        Index(
            "uq_version_drafts_active",
            "user_id",
            "project_id",
            unique=True,
            sqlite_where=db.text("consumed_at IS NULL"),
            postgresql_where=db.text("consumed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True, default=new_token)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(default=1)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    consumed_at: Mapped[datetime | None]
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
