"""Build a small catalog straight in the database."""

from __future__ import annotations

from dataclasses import dataclass

from tests.webapp.samples import DEPLOYMENT_YAML, KUBECONFIG
from webapp.extensions import db
from webapp.models import (
    Cluster,
    Environment,
    EnvironmentService,
    JobRun,
    Project,
    ProjectKind,
    Registry,
    Service,
)


@dataclass
class Catalog:
    cluster_id: int
    registry_id: int
    project_id: int
    service_id: int
    environment_id: int
    job_run_id: int


def make_catalog(app) -> Catalog:
    with app.app_context():
        cluster = Cluster(name="prod-cluster", kubeconfig=KUBECONFIG)
        registry = Registry(
            name="harbor",
            address="registry.example.com",
            namespace="shop",
            username="robot",
            password="registry-SECRET-pw-456",
        )
        project = Project(key="shop", name="Shop", kind=ProjectKind.K8S_YAML)
        service = Service(
            project=project, name="cart", order_group=1, yaml_template=DEPLOYMENT_YAML
        )
        env = Environment(project=project, name="dev", namespace="shop-dev", cluster=cluster)
        deployed = EnvironmentService(environment=env, service=service)
        run = JobRun(kind="registry_test", title="Test", rq_id="matrix-run")
        db.session.add_all([cluster, registry, project, service, env, deployed, run])
        db.session.commit()
        return Catalog(cluster.id, registry.id, project.id, service.id, env.id, run.id)
