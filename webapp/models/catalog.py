"""The catalog: clusters, registries, projects, services and environments."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.kube.access import ClusterAccess
from webapp.crypto import EncryptedText
from webapp.extensions import db
from webapp.models.base import utcnow


class ProjectKind(enum.StrEnum):
    K8S_YAML = "k8s_yaml"
    HELM = "helm"

    @property
    def label(self) -> str:
        return "K8s YAML" if self is ProjectKind.K8S_YAML else "Helm chart"


class Cluster(db.Model):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    in_cluster: Mapped[bool] = mapped_column(default=False)
    kubeconfig: Mapped[str | None] = mapped_column(EncryptedText)
    # What the last "Test connection" learnt; the sandbox reports itself there.
    server_version: Mapped[str | None] = mapped_column(String(128))
    checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    environments: Mapped[list[Environment]] = relationship(back_populates="cluster")

    @property
    def is_sandbox(self) -> bool:
        return bool(self.server_version and "sandbox" in self.server_version)

    def access(self) -> ClusterAccess:
        """What the cluster engine needs to reach this cluster (kubeconfig decrypted here)."""
        return ClusterAccess(kubeconfig=self.kubeconfig, in_cluster=self.in_cluster)


class Registry(db.Model):
    __tablename__ = "registries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(255))
    namespace: Mapped[str] = mapped_column(String(255), default="")
    username: Mapped[str | None] = mapped_column(String(255))
    password: Mapped[str | None] = mapped_column(EncryptedText)
    verify_tls: Mapped[bool] = mapped_column(default=True)
    plain_http: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def prefix(self) -> str:
        """Where images of this registry go: ``address/namespace``."""
        return "/".join(part for part in (self.address, self.namespace.strip("/")) if part)


class Project(db.Model):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[ProjectKind] = mapped_column(Enum(ProjectKind, native_enum=False, length=16))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    services: Mapped[list[Service]] = relationship(
        back_populates="project", order_by="(Service.order_group, Service.name)"
    )
    environments: Mapped[list[Environment]] = relationship(
        back_populates="project", order_by="Environment.name"
    )


class Service(db.Model):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    order_group: Mapped[int] = mapped_column(default=1)
    yaml_template: Mapped[str | None] = mapped_column(Text)
    chart_archive: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    chart_name: Mapped[str | None] = mapped_column(String(128))
    chart_version: Mapped[str | None] = mapped_column(String(64))
    default_values: Mapped[str | None] = mapped_column(Text)
    # Helm: the values keys holding each image, one ImagePath label a line (jobs.helm.values).
    image_paths: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="services")


class Environment(db.Model):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id"), index=True)
    namespace: Mapped[str] = mapped_column(String(63))
    production: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="environments")
    cluster: Mapped[Cluster | None] = relationship(back_populates="environments")
    deployed: Mapped[list[EnvironmentService]] = relationship(
        back_populates="environment", cascade="all, delete-orphan"
    )


class EnvironmentService(db.Model):
    """What one service runs in one environment now."""

    __tablename__ = "environment_services"
    __table_args__ = (UniqueConstraint("environment_id", "service_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    rendered_yaml: Mapped[str | None] = mapped_column(Text)
    values_yaml: Mapped[str | None] = mapped_column(Text)
    chart_version: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # What the last sync found different from the last release (webapp.catalog.drift).
    drift: Mapped[dict | None] = mapped_column(JSON)
    drift_checked_at: Mapped[datetime | None]

    environment: Mapped[Environment] = relationship(back_populates="deployed")
    service: Mapped[Service] = relationship()
    images: Mapped[list[DeployedImage]] = relationship(
        back_populates="environment_service",
        cascade="all, delete-orphan",
        order_by="DeployedImage.container",
    )


class DeployedImage(db.Model):
    """The image one container of a deployed service runs."""

    __tablename__ = "deployed_images"
    __table_args__ = (UniqueConstraint("environment_service_id", "container"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_service_id: Mapped[int] = mapped_column(
        ForeignKey("environment_services.id"), index=True
    )
    container: Mapped[str] = mapped_column(String(128))
    image: Mapped[str] = mapped_column(String(512))

    environment_service: Mapped[EnvironmentService] = relationship(back_populates="images")
