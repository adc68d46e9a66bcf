"""The demo's Helm project (``flask demo seed``) makes a version through the form and the job."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sandbox.demo_cli import demo_cli
from tests.helpers import run_queued_jobs
from tests.webapp.version_fixtures import images_post, text
from webapp.extensions import db
from webapp.models import Environment, Project, Registry, Version, VersionStatus
from webapp.models.versions import ChartStatus


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_demo_helm_project_makes_a_version(
    app, runner, client, registry, sandbox_cluster, tmp_path
):
    kubeconfig = tmp_path / "kubeconfig"
    sandbox_cluster.write_kubeconfig(str(kubeconfig))
    seeded = runner.invoke(
        demo_cli, args=["seed", "--registry", registry.address, "--kubeconfig", str(kubeconfig)]
    )
    assert seeded.exit_code == 0, seeded.output
    with app.app_context():
        project = db.session.scalars(select(Project).where(Project.key == "analytics")).one()
        env = db.session.scalars(
            select(Environment).where(
                Environment.project_id == project.id, Environment.production.is_(False)
            )
        ).first()
        registry_id = db.session.scalars(select(Registry.id)).first()
        project_id, env_id = project.id, env.id
        service_ids = [row.service_id for row in env.deployed]
    assert service_ids
    # The seed gives the demo users new passwords and prints them.
    password = next(
        line.split()[1] for line in seeded.output.splitlines() if line.startswith("  tester ")
    )
    client.post("/auth/login", data={"username": "tester", "password": password})
    base = f"/versions/projects/{project_id}/new"
    assert client.post(f"{base}/1", data={"name": "demo-1", "action": "next"}).status_code == 302
    step_2 = {"environment_id": env_id, "service_ids": service_ids, "action": "next"}
    response = client.post(f"{base}/2", data=step_2)
    assert response.status_code == 302, text(response)
    fields = {"registry_id": registry_id, "chart_registry_id": registry_id}
    page = client.post(f"{base}/3", data={**fields, "action": "registry"})
    assert page.status_code == 200, text(page)
    response = client.post(f"{base}/3", data=images_post(text(page), "create", **fields))
    assert response.status_code == 302, text(response)
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status == VersionStatus.SUCCESS, version.error
        assert len(version.charts) == len(service_ids)
        assert all(chart.chart_status == ChartStatus.DONE for chart in version.charts)
