"""Rules for an environment's recorded deployed state."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import DeployedImage, Environment, EnvironmentService, Service


def set_deployed_images(state: EnvironmentService, images: dict[str, str]) -> None:
    """Make ``state.images`` match ``{container: image}``, updating rows in place."""
    existing = {image.container: image for image in state.images}
    for container, image in existing.items():
        if container not in images:
            state.images.remove(image)
    for container, ref in images.items():
        if container in existing:
            existing[container].image = ref
        else:
            state.images.append(DeployedImage(container=container, image=ref))


def deployed_state(env: Environment, service: Service) -> EnvironmentService | None:
    return db.session.scalar(
        select(EnvironmentService).where(
            EnvironmentService.environment_id == env.id,
            EnvironmentService.service_id == service.id,
        )
    )


def record_deployed(
    env: Environment,
    service: Service,
    images: dict[str, str],
    *,
    chart: tuple[str, str] | None = None,
) -> EnvironmentService:
    """Record what ``service`` runs in ``env``: images and, for Helm, (chart version, values)."""
    state = deployed_state(env, service)
    if state is None:
        state = EnvironmentService(environment=env, service=service)
        db.session.add(state)
    set_deployed_images(state, images)
    state.drift = None  # a sync looks again; a release makes it match
    if chart is not None:
        state.chart_version, state.values_yaml = chart
    return state


def forget_deployed(env: Environment, service: Service) -> None:
    state = deployed_state(env, service)
    if state is not None:
        db.session.delete(state)
