"""A K8s YAML project whose dev environment runs images from a real source registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from webapp.extensions import db
from webapp.models import (
    DeployedImage,
    Environment,
    EnvironmentService,
    Project,
    ProjectKind,
    Registry,
    Service,
)


def workload_yaml(name: str, containers: dict[str, str]) -> str:
    lines = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {name}",
        "spec:",
        "  replicas: 1",
        "  template:",
        "    spec:",
        "      containers:",
    ]
    for container, image in containers.items():
        lines += [f"        - name: {container}", f"          image: {image}"]
    return (
        "\n".join(lines)
        + "\n---\napiVersion: v1\nkind: Service\nmetadata:\n"
        + (f"  name: {name}\nspec:\n  ports: [{{port: 80}}]\n")
    )


@dataclass
class VersionCatalog:
    project_id: int
    environment_id: int
    registry_id: int
    service_ids: dict[str, int] = field(default_factory=dict)


def make_version_catalog(
    app,
    target_address: str,
    services: dict[str, dict[str, str]],
    *,
    order: dict[str, int] | None = None,
    registry_auth: tuple[str, str] | None = None,
    namespace: str = "prod",
) -> VersionCatalog:
    """``services``: ``{service: {container: image}}`` deployed in environment ``dev``."""
    with app.app_context():
        project = Project(key="shop", name="Shop", kind=ProjectKind.K8S_YAML)
        env = Environment(project=project, name="dev", namespace="shop-dev")
        registry = Registry(
            name="prod-registry",
            address=target_address,
            namespace=namespace,
            plain_http=True,
            username=registry_auth[0] if registry_auth else None,
            password=registry_auth[1] if registry_auth else None,
        )
        db.session.add_all([project, env, registry])
        rows = {}
        for name, containers in services.items():
            # The template still names old images; the recorded deployed images win.
            template = workload_yaml(name, {c: f"old.example.com/{c}:0" for c in containers})
            service = Service(
                project=project,
                name=name,
                order_group=(order or {}).get(name, 1),
                yaml_template=template,
            )
            deployed = EnvironmentService(
                environment=env,
                service=service,
                rendered_yaml=workload_yaml(name, containers),
                images=[DeployedImage(container=c, image=i) for c, i in containers.items()],
            )
            db.session.add_all([service, deployed])
            rows[name] = service
        db.session.commit()
        return VersionCatalog(
            project.id, env.id, registry.id, {name: s.id for name, s in rows.items()}
        )
