"""A Helm project whose dev environment runs real charts with images in a real source registry."""

from __future__ import annotations

import re
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jobs.helm.charts import inspect_chart_archive
from sandbox.charts import DEPLOYMENT_TEMPLATE, build_chart_archive
from sandbox.images import push_demo_image
from webapp.extensions import db
from webapp.models import (
    Environment,
    EnvironmentService,
    Project,
    ProjectKind,
    Registry,
    Service,
)

REQUIRED_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-db
data:
  host: {{ required "db.host is required" .Values.db.host | quote }}
"""


def chart_needing_db_host(name: str, version: str, image_repository: str, tag: str) -> bytes:
    """A chart whose template fails to render unless ``db.host`` is set (it is empty)."""
    import helm_python

    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = Path(tmp) / name
        (chart_dir / "templates").mkdir(parents=True)
        chart = {"apiVersion": "v2", "name": name, "version": version, "appVersion": tag}
        values = {
            "replicaCount": 1,
            "image": {"repository": image_repository, "tag": tag},
            "service": {"port": 8080},
            "db": {"host": ""},
        }
        (chart_dir / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
        (chart_dir / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
        (chart_dir / "templates" / "deployment.yaml").write_text(DEPLOYMENT_TEMPLATE)
        (chart_dir / "templates" / "db.yaml").write_text(REQUIRED_TEMPLATE)
        return Path(helm_python.package(chart_dir, destination=tmp)).read_bytes()


@dataclass
class HelmCatalog:
    project_id: int
    environment_id: int
    registry_id: int
    service_ids: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # service -> source image ref
    namespace: str = ""

    @property
    def charts_path(self) -> str:
        """The chart repository's path in the target registry."""
        return f"{self.namespace}/charts"


def make_helm_catalog(
    app,
    source_address: str,
    target_address: str,
    services: dict[str, dict],
    *,
    namespace: str | None = None,
) -> HelmCatalog:
    """``services``: ``{name: {"extra": {values keys}, "chart": bytes (optional)}}``.

    Each service's image is pushed to ``source_address/analytics/<name>:1.0``; the dev
    environment runs chart 0.1.0 with the chart's values plus ``extra``. The target
    registry's namespace is fresh unless given: the test registries live for the session.
    """
    namespace = namespace or f"prod-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        project = Project(key="analytics", name="Analytics", kind=ProjectKind.HELM)
        env = Environment(project=project, name="dev", namespace="analytics-dev")
        registry = Registry(
            name="prod-registry", address=target_address, namespace=namespace, plain_http=True
        )
        # Sources must be on catalog registries (issue #12).
        source = Registry(name="dev-registry", address=source_address, plain_http=True)
        db.session.add_all([project, env, registry, source])
        sources, rows = {}, {}
        for name, spec in services.items():
            repository = f"{source_address}/analytics/{name}"
            push_demo_image(source_address, f"analytics/{name}", "1.0", seed=name)
            archive = spec.get("chart") or build_chart_archive(
                name, "0.1.0", image_repository=repository, image_tag="1.0"
            )
            info = inspect_chart_archive(archive, app.config["MAX_CHART_BYTES"])
            values = {**yaml.safe_load(info.values_yaml), **spec.get("extra", {})}
            service = Service(
                project=project,
                name=name,
                order_group=spec.get("order", 1),
                chart_archive=archive,
                chart_name=info.name,
                chart_version=info.version,
                default_values=info.values_yaml,
            )
            deployed = EnvironmentService(
                environment=env,
                service=service,
                values_yaml=yaml.safe_dump(values, sort_keys=False),
                chart_version=info.version,
            )
            db.session.add_all([service, deployed])
            rows[name] = service
            sources[name] = f"{repository}:1.0"
        db.session.commit()
        return HelmCatalog(
            project.id,
            env.id,
            registry.id,
            {n: s.id for n, s in rows.items()},
            sources,
            namespace,
        )


def step_url(cat: HelmCatalog, step: int) -> str:
    return f"/versions/projects/{cat.project_id}/new/{step}"


def values_rows(html: str) -> dict[str, str]:
    """The values editors of step 2 as a browser reads them (one leading newline dropped)."""
    import html as html_lib

    rows = {}
    for match in re.finditer(r'name="values-(\d+)-service_id" type="hidden" value="(\d+)"', html):
        index, service_id = match.groups()
        found = re.search(
            rf'name="values-{index}-values"[^>]*>(?:\r\n|\n)?(.*?)</textarea>', html, re.S
        )
        rows[service_id] = html_lib.unescape(found.group(1)) if found else ""
    return rows


def values_post(html: str, action: str, **extra) -> dict:
    """The step-2 values editors as a browser would post them, with ``action`` pressed."""
    data = {"action": action, **extra}
    for index, (service_id, text) in enumerate(values_rows(html).items()):
        data[f"values-{index}-service_id"] = service_id
        data[f"values-{index}-values"] = text
    return data


def to_step_2(client, cat, name: str) -> str:
    """Step 1 with ``name``, then step 2 showing every service's values editor."""
    response = client.post(step_url(cat, 1), data={"name": name, "action": "next"})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.post(
        step_url(cat, 2),
        data={
            "environment_id": cat.environment_id,
            "service_ids": list(cat.service_ids.values()),
            "action": "environment",
        },
    )
    assert page.status_code == 200, page.get_data(as_text=True)
    return page.get_data(as_text=True)


def step_2_data(cat, html: str, action: str, **extra) -> dict:
    """Step 2 as posted: the environment, every service, and the editors' values."""
    return values_post(
        html,
        action,
        environment_id=cat.environment_id,
        service_ids=list(cat.service_ids.values()),
        **extra,
    )
