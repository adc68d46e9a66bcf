"""Drift: kubectl changes a workload behind Slipway's back; the next sync marks it."""

# ruff: noqa: F811  (pytest fixtures imported from test_releases are parameters here)
from __future__ import annotations

import re
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.helpers import run_queued_jobs
from tests.webapp.test_releases import (  # noqa: F401  (fixtures)
    DEPLOY_FULL,
    DEPLOY_IMAGES,
    access,
    deploy_v1,
    images,
    make_workflow,
    release_row,
    shop,
    start,
)
from tests.webapp.version_fixtures import text
from webapp.catalog.drift import schedule_syncs
from webapp.extensions import db
from webapp.models import Environment, EnvironmentService, JobRun, ReleaseStatus, Service
from webapp.models.base import utcnow

pytestmark = pytest.mark.timeout(120)

KUBECTL = "/usr/bin/kubectl"


@pytest.fixture
def kubectl(sandbox_cluster, tmp_path):
    path = sandbox_cluster.write_kubeconfig(str(tmp_path / "kubeconfig"))

    def run(*args: str) -> str:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", path, *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr + result.stdout
        return result.stdout

    return run


def sync(app, client, auth, shop) -> None:
    auth.logout()
    auth.login("release")
    assert client.post(f"/catalog/environments/{shop.environment_id}/sync").status_code == 302
    run_queued_jobs(app)


def drift_of(app, shop, name: str):
    with app.app_context():
        return db.session.scalar(
            select(EnvironmentService.drift)
            .join(Service)
            .where(EnvironmentService.environment_id == shop.environment_id, Service.name == name)
        )


def test_set_image_and_set_env_behind_slipways_back_show_as_drift(
    app, client, auth, shop, access, images, kubectl
):
    deploy_v1(access, shop, images)
    release_id = start(client, auth, make_workflow(app, shop, [DEPLOY_FULL]), shop.versions["2.0"])
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED
    sync(app, client, auth, shop)
    page = text(client.get(f"/catalog/environments/{shop.environment_id}"))
    assert "No drift: at the last sync" in page and 'class="badge badge-drift"' not in page
    assert [drift_of(app, shop, name) for name in ("cart", "web", "api")] == [None, None, None]

    old_cart = images[("cart", "1.0")]
    kubectl("set", "image", "-n", shop.namespace, "deployment/cart", f"cart={old_cart}")
    kubectl("set", "env", "-n", shop.namespace, "deployment/web", "DEBUG=true")
    sync(app, client, auth, shop)

    cart = drift_of(app, shop, "cart")
    assert cart["release_id"] == release_id and cart["version"] == "v2.0"
    assert cart["images"] == [
        {"container": "cart", "expected": images[("cart", "2.0")], "live": old_cart}
    ]
    web = drift_of(app, shop, "web")
    assert web["images"] == []
    added = [line for kind, line in web["diff"] if kind == "add"]
    assert added == ["+  web:", "+    env:", "+    - name: DEBUG", "+      value: 'true'"]
    assert drift_of(app, shop, "api") is None

    page = text(client.get(f"/catalog/environments/{shop.environment_id}"))
    assert page.count('class="badge badge-drift">drift</a>') == 2
    section = page[page.index('id="environment-drift"') :]
    section = section[: section.index("</section>")]
    assert "2 services run something else than their last release deployed" in section
    assert re.search(
        rf'<tr data-container="cart"><td><code>cart</code></td><td><code class="image-ref">'
        rf"{re.escape(images[('cart', '2.0')])}</code></td><td><code class=\"image-ref\">"
        rf"{re.escape(old_cart)}</code>",
        section,
    )
    assert re.search(r'<span class="diff-add">\+.*DEBUG', section)
    assert 'id="drift-api"' not in section

    # A release that puts it right clears the drift; the next sync agrees.
    again = start(
        client, auth, make_workflow(app, shop, [DEPLOY_FULL], name="fix"), shop.versions["2.0"]
    )
    run_queued_jobs(app)
    assert release_row(app, again).status is ReleaseStatus.PASSED
    assert drift_of(app, shop, "cart") is None
    sync(app, client, auth, shop)
    assert drift_of(app, shop, "cart") is None


def test_an_images_only_release_is_compared_by_image(
    app, client, auth, shop, access, images, kubectl
):
    deploy_v1(access, shop, images)
    release_id = start(
        client, auth, make_workflow(app, shop, [DEPLOY_IMAGES]), shop.versions["2.0"]
    )
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED
    kubectl("set", "env", "-n", shop.namespace, "deployment/web", "DEBUG=true")
    sync(app, client, auth, shop)
    assert drift_of(app, shop, "web") is None  # Slipway applied images only: env is not its own


def test_syncs_are_scheduled_for_stale_environments_once(app, shop):
    app.config["SYNC_INTERVAL"] = 60
    with app.app_context():
        env = db.session.get(Environment, shop.environment_id)
        env.synced_at = utcnow() - timedelta(seconds=30)
        db.session.commit()
        assert schedule_syncs() == []  # synced 30 s ago
        env.synced_at = utcnow() - timedelta(seconds=120)
        db.session.commit()
        (run,) = schedule_syncs()
        assert run.kind == "environment_sync" and run.target_id == env.id
        assert schedule_syncs() == []  # one is queued already
        app.config["SYNC_INTERVAL"] = 0
        run.status = run.status.SUCCEEDED
        db.session.commit()
        assert schedule_syncs() == []  # turned off
        assert db.session.scalar(select(JobRun.id).where(JobRun.id == run.id))
