"""What a draft would create: services with rewritten YAML, and one row per image."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from jobs.oci.ref import ImageRef
from webapp.extensions import db
from webapp.models import Environment, EnvironmentService, ProjectKind, Registry
from webapp.versions.helm import chart_sources, plan_chart
from webapp.versions.planned import PlannedImage, PlannedService, image_key
from webapp.versions.yaml_images import containers_and_images


def image_name(source_ref: str) -> str:
    """The last path component of an image's repository: ``shop/cart:1`` -> ``cart``."""
    try:
        return ImageRef.parse(source_ref).repository.rsplit("/", 1)[-1]
    except ValueError:
        return source_ref.split("@")[0].rsplit("/", 1)[-1].split(":")[0]


def default_repository(registry: Registry | None, source_ref: str) -> str:
    """``<registry address>/<namespace>/<image name>``; the bare name without a registry."""
    name = image_name(source_ref)
    return f"{registry.prefix}/{name}" if registry else name


def deployed_services(environment_id: int | None) -> list[EnvironmentService]:
    """The services recorded as deployed in an environment, in startup order."""
    if not environment_id:
        return []
    rows = db.session.scalars(
        select(EnvironmentService)
        .where(EnvironmentService.environment_id == environment_id)
        .options(selectinload(EnvironmentService.service), selectinload(EnvironmentService.images))
    ).all()
    return sorted(rows, key=lambda row: (row.service.order_group, row.service.name))


def source_images(deployed: EnvironmentService) -> tuple[str, dict[str, str]]:
    """A deployed service's YAML and ``{container: image}``; recorded images win over YAML."""
    text = deployed.rendered_yaml or deployed.service.yaml_template or ""
    images = containers_and_images(text)
    images.update({image.container: image.image for image in deployed.images})
    return text, images


def environment_of(project_id: int, environment_id: int | None) -> Environment | None:
    if not environment_id:
        return None
    env = db.session.get(Environment, environment_id)
    return env if env is not None and env.project_id == project_id else None


def registry_of(registry_id: int | None) -> Registry | None:
    return db.session.get(Registry, registry_id) if registry_id else None


def plan(data: dict, project_id: int) -> list[PlannedService]:
    """The services and images the draft ``data`` describes, with defaults filled in."""
    env = environment_of(project_id, data.get("environment_id"))
    if env is None:
        return []
    registry = registry_of(data.get("registry_id"))
    chosen = set(data.get("service_ids") or [])
    overrides = data.get("images") or {}
    default_tag = data.get("name") or "latest"
    helm = env.project.kind == ProjectKind.HELM
    planned = []
    for deployed in deployed_services(env.id):
        if deployed.service_id not in chosen:
            continue
        if helm:
            service = plan_chart(deployed, data)
            images = chart_sources(service)
        else:
            text, images = source_images(deployed)
            service = PlannedService(service=deployed.service, source_yaml=text)
        for container, source in images.items():
            key = image_key(deployed.service_id, container)
            override = overrides.get(key) or {}
            service.images.append(
                PlannedImage(
                    key=key,
                    container=container,
                    source_ref=source,
                    repository=override.get("repository") or default_repository(registry, source),
                    tag=override.get("tag") or default_tag,
                    push=override.get("push", True),
                )
            )
        planned.append(service)
    return planned
