"""Release workflows: an admin's ordered stages that put a version into one environment."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.models.catalog import Environment, Project, ProjectKind


class StageKind(enum.StrEnum):
    DEPLOY = "deploy"
    HELM_DEPLOY = "helm_deploy"
    TEST = "test"
    APPROVAL = "approval"

    @property
    def label(self) -> str:
        return {
            StageKind.DEPLOY: "Deploy",
            StageKind.HELM_DEPLOY: "Helm chart deploy",
            StageKind.TEST: "Test",
            StageKind.APPROVAL: "Manual approval",
        }[self]

    @property
    def deploys(self) -> bool:
        return self in (StageKind.DEPLOY, StageKind.HELM_DEPLOY)

    def fits(self, project_kind: ProjectKind) -> bool:
        """Deploy stages are per project kind; test and approval fit every project."""
        if self is StageKind.DEPLOY:
            return project_kind is ProjectKind.K8S_YAML
        if self is StageKind.HELM_DEPLOY:
            return project_kind is ProjectKind.HELM
        return True


class Workflow(db.Model):
    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_workflows_project_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"), index=True)
    # Off: a rollback waits at the same approvals and runs the same tests as any release.
    rollbacks_skip_gates: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship()
    environment: Mapped[Environment] = relationship()
    stages: Mapped[list[WorkflowStage]] = relationship(
        back_populates="workflow",
        cascade="all, delete-orphan",
        order_by="WorkflowStage.position",
    )

    def renumber(self) -> None:
        """Positions 1..n in list order (after an insert, a removal or a move)."""
        for position, stage in enumerate(self.stages, start=1):
            stage.position = position

    def move(self, stage: WorkflowStage, offset: int) -> None:
        """Move ``stage`` up (-1) or down (+1); at either end nothing changes."""
        stages = list(self.stages)
        index = stages.index(stage)
        target = index + offset
        if 0 <= target < len(stages):
            stages[index], stages[target] = stages[target], stages[index]
            for position, item in enumerate(stages, start=1):
                item.position = position
            self.stages.sort(key=lambda s: s.position)

    def __repr__(self) -> str:
        return f"<Workflow {self.name}>"


class WorkflowStage(db.Model):
    """One stage; ``settings`` holds the kind's options (see ``webapp.workflows.settings``)."""

    __tablename__ = "workflow_stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id"), index=True)
    position: Mapped[int] = mapped_column(default=1)
    kind: Mapped[StageKind] = mapped_column(Enum(StageKind, native_enum=False, length=16))
    name: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)

    workflow: Mapped[Workflow] = relationship(back_populates="stages")
