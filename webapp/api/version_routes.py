"""Versions: list, read (images, digests, charts), create from an environment, retry, delete."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from webapp.api.errors import ApiProblem
from webapp.api.pages import page_of
from webapp.api.schemas import (
    ChartOut,
    ImageOut,
    VersionCreate,
    VersionList,
    VersionOut,
    VersionQuery,
    VersionServiceOut,
    VersionSummary,
)
from webapp.api.spec import Accepted, operation
from webapp.extensions import db
from webapp.models import Project, Scope, Version, VersionLabel, VersionService, VersionStatus
from webapp.models.versions import ChartStatus
from webapp.pages import get_or_404
from webapp.versions import helm_routes, services, wizard
from webapp.versions.plan import deployed_services, environment_of, plan, registry_of
from webapp.versions.routes import get_version


def summary_fields(version: Version) -> dict:
    return {
        "id": version.id,
        "project_id": version.project_id,
        "name": version.name,
        "status": version.status.value,
        "labels": version.label_names,
        "created_by": version.created_by.username if version.created_by else None,
        "created_at": version.created_at,
        "finished_at": version.finished_at,
        "url": url_for("api.version", version_id=version.id),
    }


def version_out(version: Version) -> VersionOut:
    services_out = []
    for service in version.services:
        chart = None
        if service.is_chart:
            packaged = service.chart_status == ChartStatus.DONE
            chart = ChartOut(
                name=service.chart_name,
                version=service.chart_version,
                source_version=service.source_chart_version,
                status=service.chart_status.value if service.chart_status else None,
                error=service.chart_error,
                digest=service.chart_digest,
                reference=service.chart_reference,
                download_url=url_for(
                    "api.version_chart", version_id=version.id, service_id=service.id
                )
                if packaged
                else None,
            )
        services_out.append(
            VersionServiceOut(
                id=service.id,
                name=service.name,
                order_group=service.order_group,
                chart=chart,
                images=[
                    ImageOut(
                        container=i.container,
                        source_ref=i.source_ref,
                        source_digest=i.source_digest,
                        target_ref=i.target_ref,
                        target_digest=i.target_digest,
                        push=i.push,
                        status=i.status.value,
                        error=i.error,
                        bytes_total=i.bytes_total,
                        bytes_copied=i.bytes_copied,
                        platforms=i.platforms,
                    )
                    for i in service.images
                ],
            )
        )
    return VersionOut(
        **summary_fields(version),
        description=version.description,
        error=version.error,
        source_environment=version.source_environment_name,
        target_registry=version.target_registry_address,
        chart_repository=version.chart_repository,
        services=services_out,
        used_by=services.users_of(version),
    )


def _loaded(version_id: int) -> Version:
    return get_version(
        version_id,
        selectinload(Version.services).selectinload(VersionService.images),
        selectinload(Version.labels),
        joinedload(Version.created_by),
    )


def _require_editor() -> None:
    if not services.may_edit(current_user):
        raise ApiProblem(403, "Only test engineers and admins create, retry and delete versions.")


@operation(
    "/projects/<int:project_id>/versions",
    summary="List a project's versions, newest first",
    tag="versions",
    response=VersionList,
    query=VersionQuery,
)
def versions(project_id: int, query: VersionQuery):
    project = get_or_404(Project, project_id, "project")
    statement = (
        select(Version)
        .where(Version.project_id == project.id, Version.deleted_at.is_(None))
        .options(selectinload(Version.labels), joinedload(Version.created_by))
        .order_by(Version.created_at.desc(), Version.id.desc())
    )
    if query.label:
        statement = statement.where(Version.labels.any(VersionLabel.name == query.label))
    if query.q:
        pattern = f"%{query.q.strip()}%"
        statement = statement.where(
            or_(
                Version.name.ilike(pattern),
                Version.services.any(VersionService.name.ilike(pattern)),
            )
        )
    if query.status:
        statement = statement.where(Version.status == VersionStatus(query.status))
    page, meta = page_of(statement, query)
    return VersionList(items=[VersionSummary(**summary_fields(v)) for v in page.items], **meta)


@operation(
    "/versions/<int:version_id>",
    summary="Read a version: services, images with digests, charts",
    tag="versions",
    response=VersionOut,
)
def version(version_id: int):
    """Poll this after creating a version: ``status`` ends ``success`` or ``failed``."""
    return version_out(_loaded(version_id))


def draft_data(project: Project, body: VersionCreate) -> dict:
    """The request as the form's draft data (service names -> ids, image keys -> ids)."""
    env = environment_of(project.id, body.environment_id)
    if env is None:
        raise ApiProblem(422, "No such environment in this project.", "environment_id")
    for field in ("registry_id", "chart_registry_id"):
        registry_id = getattr(body, field)
        if registry_id is not None and registry_of(registry_id) is None:
            raise ApiProblem(422, "No such registry.", field)
    deployed = {row.service.name: row.service_id for row in deployed_services(env.id)}
    names = body.services if body.services is not None else list(deployed)
    unknown = [name for name in names if name not in deployed]
    if unknown:
        raise ApiProblem(422, f"Not deployed in {env.name}: {', '.join(unknown)}.", "services")
    ids = {name: deployed[name] for name in names}
    for field, mapping in (("values", body.values), ("chart_versions", body.chart_versions)):
        for name in mapping:
            if name not in ids:
                raise ApiProblem(422, f"{name} is not one of the version's services.", field)
    data = {
        "name": body.name,
        "labels": list(dict.fromkeys(body.labels)),
        "description": body.description,
        "environment_id": env.id,
        "service_ids": list(ids.values()),
        "registry_id": body.registry_id,
        "chart_registry_id": body.chart_registry_id,
        "values": {str(ids[name]): text for name, text in body.values.items()},
        "chart_versions": {str(ids[name]): v for name, v in body.chart_versions.items()},
    }
    planned_keys = {
        f"{item.service.name}/{image.container}": image.key
        for item in plan({**data, "images": {}}, project.id)
        for image in item.images
    }
    images = {key: {"tag": body.tag} for key in planned_keys.values()} if body.tag else {}
    for key, override in body.images.items():
        if key not in planned_keys:
            raise ApiProblem(422, f"No image {key} (write service/container).", f"images.{key}")
        images[planned_keys[key]] = {**override.model_dump(), "tag": override.tag or body.tag}
    data["images"] = images
    return data


def _field_name(field: str, project: Project) -> str:
    """Form field names (ids inside) as the request names them (service names)."""
    names = {str(s.id): s.name for s in project.services}
    parts = field.split(".")
    if parts[0] == "images" and len(parts) > 1:
        service_id, _, container = parts[1].partition("/")
        parts[1] = f"{names.get(service_id, service_id)}/{container}"
    elif parts[0] in ("values", "chart_versions") and len(parts) > 1:
        parts[1] = names.get(parts[1], parts[1])
    elif parts[0] == "service_ids":
        parts[0] = "services"
    return ".".join(parts)


@operation(
    "/projects/<int:project_id>/versions",
    "POST",
    summary="Create a version from an environment",
    tag="versions",
    scope=Scope.VERSIONS_WRITE,
    body=VersionCreate,
    response=VersionOut,
    status=202,
    errors=(409,),
    idempotent=True,
)
def create_version(project_id: int, body: VersionCreate):
    """Answers 202 at once; the images are copied (and charts packaged) by a worker.
    Poll the ``Location`` until ``status`` is ``success`` or ``failed``."""
    _require_editor()
    project = wizard.get_yaml_project(project_id)
    data = draft_data(project, body)
    found = wizard.problems(project, data)
    if found:
        field, message = found[0]
        status = 409 if message == wizard.NAME_TAKEN else 422
        raise ApiProblem(status, message, _field_name(field, project))
    version = services.create_version(project, data, plan(data, project.id), current_user)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise ApiProblem(409, wizard.NAME_TAKEN, "name") from exc
    services.start_copy(version, current_user)
    url = url_for("api.version", version_id=version.id)
    return Accepted(version_out(_loaded(version.id)), url)


@operation(
    "/versions/<int:version_id>/retry",
    "POST",
    summary="Retry a failed version's images and charts",
    tag="versions",
    scope=Scope.VERSIONS_WRITE,
    response=VersionOut,
    status=202,
    errors=(409,),
)
def retry_version(version_id: int):
    _require_editor()
    version = get_version(version_id)
    services.retry(version, current_user)
    return Accepted(version_out(_loaded(version.id)), url_for("api.version", version_id=version.id))


@operation(
    "/versions/<int:version_id>",
    "DELETE",
    summary="Delete a version no release uses (soft delete)",
    tag="versions",
    scope=Scope.VERSIONS_WRITE,
    status=204,
    errors=(409,),
)
def delete_version(version_id: int):
    _require_editor()
    services.delete(get_version(version_id))
    return None


@operation(
    "/versions/<int:version_id>/charts/<int:service_id>.tgz",
    summary="Download a packaged chart of a version",
    tag="versions",
    media_type="application/gzip",
)
def version_chart(version_id: int, service_id: int):
    return helm_routes.chart_download(version_id, service_id)
