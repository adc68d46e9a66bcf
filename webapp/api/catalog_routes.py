"""Reading the catalog: projects, their services and environments, what runs where."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.api.schemas import (
    ContainerImage,
    EnvironmentList,
    EnvironmentOut,
    EnvironmentState,
    ProjectList,
    ProjectOut,
    RunningService,
    ServiceList,
    ServiceOut,
)
from webapp.api.spec import operation
from webapp.extensions import db
from webapp.models import Environment, EnvironmentService, Project
from webapp.pages import get_or_404
from webapp.releases import queries
from webapp.releases.services import lock_holders


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        key=project.key,
        name=project.name,
        kind=project.kind.value,
        description=project.description,
        url=url_for("api.project", project_id=project.id),
    )


def environment_out(env: Environment) -> EnvironmentOut:
    return EnvironmentOut(
        id=env.id,
        project_id=env.project_id,
        name=env.name,
        namespace=env.namespace,
        production=env.production,
        cluster=env.cluster.name if env.cluster else None,
        url=url_for("api.environment", environment_id=env.id),
    )


@operation("/projects", summary="List projects", tag="catalog", response=ProjectList)
def projects():
    rows = db.session.scalars(select(Project).order_by(Project.key)).all()
    return ProjectList(items=[project_out(p) for p in rows])


@operation(
    "/projects/<int:project_id>", summary="Read a project", tag="catalog", response=ProjectOut
)
def project(project_id: int):
    return project_out(get_or_404(Project, project_id, "project"))


@operation(
    "/projects/<int:project_id>/services",
    summary="List a project's services",
    tag="catalog",
    response=ServiceList,
)
def project_services(project_id: int):
    project = get_or_404(Project, project_id, "project")
    return ServiceList(
        items=[
            ServiceOut(
                id=s.id,
                name=s.name,
                order_group=s.order_group,
                chart_name=s.chart_name,
                chart_version=s.chart_version,
            )
            for s in project.services
        ]
    )


@operation(
    "/projects/<int:project_id>/environments",
    summary="List a project's environments",
    tag="catalog",
    response=EnvironmentList,
)
def project_environments(project_id: int):
    project = get_or_404(Project, project_id, "project")
    envs = db.session.scalars(
        select(Environment)
        .where(Environment.project_id == project.id)
        .options(selectinload(Environment.cluster))
        .order_by(Environment.name)
    ).all()
    return EnvironmentList(items=[environment_out(e) for e in envs])


@operation(
    "/environments/<int:environment_id>",
    summary="What runs where: an environment's services, images and versions",
    tag="catalog",
    response=EnvironmentState,
)
def environment(environment_id: int):
    """Per service: the images recorded as running, and the version its last passed
    release deployed; plus the release holding the environment now, if any."""
    env = get_or_404(Environment, environment_id, "environment")
    rows = db.session.scalars(
        select(EnvironmentService)
        .where(EnvironmentService.environment_id == env.id)
        .options(selectinload(EnvironmentService.service), selectinload(EnvironmentService.images))
    ).all()
    released = queries.deployed_versions(env.id)
    services = []
    for row in sorted(rows, key=lambda r: (r.service.order_group, r.service.name)):
        last = released.get(row.service_id)
        services.append(
            RunningService(
                service_id=row.service_id,
                name=row.service.name,
                images=[ContainerImage(container=i.container, image=i.image) for i in row.images],
                chart_version=row.chart_version,
                version=last.stage.release.version.name if last else None,
                release_id=last.stage.release_id if last else None,
                updated_at=row.updated_at,
            )
        )
    return EnvironmentState(
        environment=environment_out(env),
        services=services,
        locked_by_release_id=lock_holders([env.id]).get(env.id),
    )
