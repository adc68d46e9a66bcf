"""A K8s YAML project whose dev environment runs images from a real source registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.oci.ref import ImageRef
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
        # Sources must be on catalog registries (issue #12): one row per source host.
        hosts = {ImageRef.parse(i).registry for c in services.values() for i in c.values()}
        for number, host in enumerate(sorted(hosts - {target_address}), start=1):
            db.session.add(Registry(name=f"source-{number}", address=host))
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


def text(response) -> str:
    return response.get_data(as_text=True)


def step_url(cat: VersionCatalog, step: int) -> str:
    return f"/versions/projects/{cat.project_id}/new/{step}"


def image_rows(html: str) -> dict[str, dict]:
    """The image rows of step 3 as the page shows them: key -> posted field values."""
    import re

    rows = {}
    for match in re.finditer(r'name="images-(\d+)-key" type="hidden" value="([^"]+)"', html):
        index, key = match.groups()
        value = {}
        for name in ("repository", "tag"):
            found = re.search(rf'name="images-{index}-{name}" type="text" value="([^"]*)"', html)
            value[name] = found.group(1) if found else ""
        value["push"] = bool(re.search(rf'checked id="images-{index}-push"', html))
        value["index"] = index
        rows[key] = value
    return rows


def token_of(html: str) -> str:
    import re

    return re.search(r'name="token" value="(\w+)"', html).group(1)


def images_post(html: str, action: str, **extra) -> dict:
    """The step-3 form as a browser would post it, with ``action`` pressed."""
    data = {"token": token_of(html), "action": action, **extra}
    for key, row in image_rows(html).items():
        i = row["index"]
        data[f"images-{i}-key"] = key
        data[f"images-{i}-repository"] = row["repository"]
        data[f"images-{i}-tag"] = row["tag"]
        if row["push"]:
            data[f"images-{i}-push"] = "y"
    return data


def create_through_form(
    client, cat: VersionCatalog, name: str, labels: str = "", before_create=None
):
    """Walk the three steps with defaults; return the response to Create.

    ``before_create()`` runs just before the Create post (e.g. to arm a fault).
    """
    response = client.post(
        step_url(cat, 1), data={"name": name, "labels": labels, "action": "next"}
    )
    assert response.status_code == 302, text(response)
    response = client.post(
        step_url(cat, 2),
        data={
            "environment_id": cat.environment_id,
            "service_ids": list(cat.service_ids.values()),
            "action": "next",
        },
    )
    assert response.status_code == 302, text(response)
    page = client.post(
        step_url(cat, 3), data={"registry_id": cat.registry_id, "action": "registry"}
    )
    assert page.status_code == 200, text(page)
    if before_create is not None:
        before_create()
    return client.post(
        step_url(cat, 3), data=images_post(text(page), "create", registry_id=cat.registry_id)
    )
