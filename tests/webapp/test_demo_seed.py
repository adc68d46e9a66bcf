"""``flask demo seed``: the demo of make run, against a real registry and the sandbox cluster."""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from sandbox.demo_cli import demo_cli
from webapp.extensions import db
from webapp.models import Cluster, Environment, Project, Service, Workflow


def test_seed_builds_the_demo_and_is_idempotent(
    app, runner, client, registry, sandbox_cluster, tmp_path
):
    kubeconfig = tmp_path / "kubeconfig"
    sandbox_cluster.write_kubeconfig(str(kubeconfig))
    args = ["seed", "--registry", registry.address, "--kubeconfig", str(kubeconfig)]
    first = runner.invoke(demo_cli, args=args)
    assert first.exit_code == 0, first.output
    passwords = {
        line.split()[0]: line.split()[1]
        for line in first.output.splitlines()
        if line.startswith("  ")
    }
    assert set(passwords) >= {"admin", "release", "tester"}
    # the images are really in the registry, one of them a multi-arch index
    index = requests.get(
        f"http://{registry.address}/v2/demo/payments/manifests/2.0.1",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
    )
    assert index.status_code == 200 and len(index.json()["manifests"]) == 2
    again = runner.invoke(demo_cli, args=[*args, "--no-push"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        projects = {p.key: p for p in db.session.scalars(select(Project))}
        assert {"shop", "analytics"} <= set(projects)
        for key in ("shop", "analytics"):
            assert len(projects[key].services) >= 3
            assert [e.name for e in projects[key].environments] == ["dev", "prod", "test"]
        assert db.session.scalar(select(func.count(Service.id))) == 6  # no duplicates
        assert db.session.scalar(select(func.count(Environment.id))) == 6
        workflows = db.session.scalars(select(Workflow).order_by(Workflow.id)).all()
        assert [(w.project.key, w.name, w.environment.name) for w in workflows] == [
            ("shop", "Release to prod", "prod"),
            ("analytics", "Release to prod", "prod"),
        ]
        assert [s.kind.value for s in workflows[1].stages] == ["helm_deploy", "test", "approval"]
        cluster = db.session.scalar(select(Cluster).where(Cluster.name == "sandbox"))
        assert cluster.is_sandbox
        cluster_id = cluster.id
    # a seeded user signs in with the printed password (unchanged by the second seed)
    response = client.post(
        "/auth/login", data={"username": "tester", "password": passwords["tester"]}
    )
    assert response.status_code == 302
    page = client.get(f"/catalog/clusters/{cluster_id}").get_data(as_text=True)
    assert "sandbox cluster" in page
