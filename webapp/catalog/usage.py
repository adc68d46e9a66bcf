"""What still uses a catalog object: deleting it is refused while anything does."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Cluster,
    Environment,
    EnvironmentService,
    Project,
    Registry,
    Release,
    Service,
    Version,
    Workflow,
)


def cluster_users(cluster: Cluster) -> list[str]:
    environments = db.session.scalars(
        select(Environment).where(Environment.cluster_id == cluster.id).order_by(Environment.name)
    )
    return [f"environment {env.project.key}/{env.name}" for env in environments]


def registry_users(registry: Registry) -> list[str]:
    """Versions whose images or charts went to the registry (deleted versions keep history)."""
    versions = db.session.execute(
        select(Project.key, Version.name)
        .join(Project, Project.id == Version.project_id)
        .where(
            (Version.target_registry_id == registry.id) | (Version.chart_registry_id == registry.id)
        )
        .order_by(Version.id)
    ).all()
    return [f"version {key}/{name}" for key, name in versions]


def service_users(service: Service) -> list[str]:
    deployed = db.session.scalars(
        select(EnvironmentService).where(EnvironmentService.service_id == service.id)
    )
    return [f"environment {state.environment.name}" for state in deployed]


def environment_users(env: Environment) -> list[str]:
    workflows = db.session.scalars(
        select(Workflow).where(Workflow.environment_id == env.id).order_by(Workflow.name)
    )
    releases = db.session.scalars(
        select(Release.id).where(Release.environment_id == env.id).order_by(Release.id)
    )
    return [f"workflow {w.name}" for w in workflows] + [f"release #{r}" for r in releases]


def project_users(project: Project) -> list[str]:
    users = [f"service {s.name}" for s in project.services]
    users += [f"environment {e.name}" for e in project.environments]
    versions = db.session.scalars(
        select(Version.name).where(Version.project_id == project.id).order_by(Version.id)
    )
    users += [f"version {name}" for name in versions]
    workflows = db.session.scalars(select(Workflow.name).where(Workflow.project_id == project.id))
    users += [f"workflow {name}" for name in workflows]
    return users
