"""The demo of ``make run``: users, a registry, a sandbox cluster and two demo projects.

``flask demo seed`` (``sandbox/demo_cli.py``) runs :func:`seed` in the app context.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
import yaml
from flask import current_app
from sqlalchemy import select

from jobs.helm.charts import inspect_chart_archive
from jobs.kube.access import ClusterError
from jobs.kube.cluster import server_version
from sandbox import demo_data
from sandbox.charts import build_chart_archive
from webapp.catalog.state import record_deployed
from webapp.extensions import db
from webapp.models import (
    Cluster,
    Environment,
    Project,
    ProjectKind,
    Registry,
    Role,
    Service,
    StageKind,
    User,
    Workflow,
    WorkflowStage,
)
from webapp.models.base import utcnow

DEMO_USERS = (
    ("admin", Role.ADMIN),
    ("release", Role.RELEASE_ENGINEER),
    ("tester", Role.TEST_ENGINEER),
    ("viewer", Role.VIEWER),
)


def seed(registry_address: str, kubeconfig: str | None, push: bool) -> None:
    """Create (or refresh) the demo; print the users' passwords."""
    if push:
        click.echo(f"pushing demo images to {registry_address} …")
        demo_data.push_demo_images(registry_address)
    credentials = _seed_users()
    registry = _upsert_registry(registry_address)
    cluster = _upsert_cluster(Path(kubeconfig).read_text() if kubeconfig else None)
    _seed_project("shop", "Shop", ProjectKind.K8S_YAML, demo_data.SHOP_SERVICES, registry, cluster)
    _seed_project(
        "analytics", "Analytics", ProjectKind.HELM, demo_data.ANALYTICS_SERVICES, registry, cluster
    )
    db.session.commit()
    click.echo("demo users (username / password / role):")
    for username, password, role in credentials:
        click.echo(f"  {username:8} {password:24} {role.label}")


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials.txt"


def _seed_users() -> list[tuple[str, str, Role]]:
    """Create the demo users once; their passwords live in a 0600 file under instance/."""
    path = _credentials_file()
    known = {}
    if path.exists():
        for line in path.read_text().splitlines():
            username, _, password = line.partition(" ")
            known[username] = password
    result = []
    for username, role in DEMO_USERS:
        user = db.session.scalar(select(User).where(User.username == username))
        password = known.get(username)
        if user is None or password is None or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User(username=username, role=role)
                db.session.add(user)
            user.set_password(password)
            known[username] = password
        result.append((username, password, role))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{u} {p}\n" for u, p in known.items())
    return result


def _upsert_registry(address: str) -> Registry:
    registry = db.session.scalar(select(Registry).where(Registry.name == "local"))
    if registry is None:
        registry = Registry(name="local", namespace="", verify_tls=False, plain_http=True)
        db.session.add(registry)
    registry.address = address
    db.session.flush()
    return registry


def _upsert_cluster(kubeconfig: str | None) -> Cluster | None:
    if kubeconfig is None:
        return None
    cluster = db.session.scalar(select(Cluster).where(Cluster.name == "sandbox"))
    if cluster is None:
        cluster = Cluster(
            name="sandbox", description="The sandbox Kubernetes API emulator of make run."
        )
        db.session.add(cluster)
    cluster.kubeconfig = kubeconfig
    _check_connection(cluster)
    db.session.flush()
    return cluster


def _check_connection(cluster: Cluster) -> None:
    """Ask the cluster its version now, so the pages know it is the sandbox from the start."""
    try:
        cluster.server_version = server_version(cluster.access())
        cluster.checked_at = utcnow()
    except ClusterError as exc:
        click.echo(f"warning: cluster {cluster.name} did not answer: {exc}", err=True)


def _seed_project(key, name, kind, services, registry: Registry, cluster: Cluster | None):
    project = db.session.scalar(select(Project).where(Project.key == key))
    if project is None:
        project = Project(key=key, name=name, kind=kind, description=f"Demo {kind.label} project")
        db.session.add(project)
        db.session.flush()
    rows = {}
    for spec in services:
        image = f"{demo_data.image_repository(registry.address, spec)}:{spec.tag}"
        row = db.session.scalar(
            select(Service).where(Service.project_id == project.id, Service.name == spec.name)
        )
        if row is None:
            row = Service(project=project, name=spec.name, order_group=spec.order_group)
            db.session.add(row)
        _fill_service(row, kind, spec, registry)
        rows[spec.name] = (row, image)
    for env_name, production in demo_data.ENVIRONMENTS:
        env = db.session.scalar(
            select(Environment).where(
                Environment.project_id == project.id, Environment.name == env_name
            )
        )
        if env is None:
            env = Environment(
                project=project, name=env_name, namespace=f"{key}-{env_name}", production=production
            )
            db.session.add(env)
        env.cluster = cluster
        if production:
            continue  # production gets what releases put there
        for spec in services:
            service, image = rows[spec.name]
            _record_deployed(env, service, spec, image, kind)
    db.session.flush()
    _seed_release_workflow(project, rows[services[0].name][1])


def _seed_release_workflow(project: Project, smoke_image: str) -> None:
    """``Release to prod``: deploy, a smoke-test Job, one release engineer's approval."""
    if db.session.scalar(select(Workflow).where(Workflow.project_id == project.id)):
        return
    prod = next(env for env in project.environments if env.production)
    deploy = (
        WorkflowStage(
            kind=StageKind.DEPLOY,
            name="Deploy",
            settings={"content": "full", "timeout_seconds": 300},
        )
        if project.kind is ProjectKind.K8S_YAML
        else WorkflowStage(
            kind=StageKind.HELM_DEPLOY, name="Deploy charts", settings={"timeout_seconds": 300}
        )
    )
    smoke = WorkflowStage(
        kind=StageKind.TEST,
        name="Smoke test",
        settings={
            "mode": "job",
            "image": smoke_image,
            "command": "sh -c 'echo smoke test passed'",
            "timeout_seconds": 120,
        },
    )
    approval = WorkflowStage(
        kind=StageKind.APPROVAL,
        name="Go-live approval",
        settings={
            "approver_roles": [Role.RELEASE_ENGINEER.value, Role.ADMIN.value],
            "approvals_needed": 1,
            "timeout_seconds": 3600,
            "instructions": "Check the smoke test log, then approve.",
        },
    )
    workflow = Workflow(project=project, name="Release to prod", environment=prod)
    workflow.stages = [deploy, smoke, approval]
    workflow.renumber()
    db.session.add(workflow)


def _fill_service(row: Service, kind: ProjectKind, spec, registry: Registry) -> None:
    repository = demo_data.image_repository(registry.address, spec)
    if kind is ProjectKind.K8S_YAML:
        row.yaml_template = demo_data.yaml_template(spec, f"{repository}:{spec.tag}")
        return
    archive = build_chart_archive(
        spec.name, "1.0.0", image_repository=repository, image_tag=spec.tag, port=spec.port
    )
    info = inspect_chart_archive(archive, current_app.config["MAX_CHART_BYTES"])
    row.chart_archive = archive
    row.chart_name = info.name
    row.chart_version = info.version
    row.default_values = info.values_yaml


def _record_deployed(env, service, spec, image, kind) -> None:
    chart = None
    if kind is ProjectKind.HELM:
        repository, _, tag = image.rpartition(":")
        values = {"replicaCount": 1, "image": {"repository": repository, "tag": tag}}
        chart = ("1.0.0", yaml.safe_dump(values, sort_keys=False))
    state = record_deployed(env, service, {spec.name: image}, chart=chart)
    if kind is ProjectKind.K8S_YAML:
        state.rendered_yaml = demo_data.yaml_template(spec, image)
