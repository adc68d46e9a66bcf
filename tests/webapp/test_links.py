"""Links a person expects: project → workflows and releases, version → release it,
release → its version, environment → the version it runs; the favicon."""

# ruff: noqa: F811  (pytest fixtures imported from test_releases are parameters here)
from __future__ import annotations

import re

import pytest

from tests.helpers import run_queued_jobs
from tests.webapp.test_releases import (  # noqa: F401  (fixtures)
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
from webapp.models import ReleaseStatus

pytestmark = pytest.mark.timeout(120)


def test_links_between_projects_versions_releases_and_environments(
    app, client, auth, shop, access, images
):
    deploy_v1(access, shop, images)
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES], name="to-prod")
    v2 = shop.versions["2.0"]
    auth.login("release")
    # The version page offers its project's workflows, and the form comes with it picked.
    version_page = text(client.get(f"/versions/{v2}"))
    link = f"/releases/new/{workflow_id}?version_id={v2}"
    assert f'href="{link}">with to-prod to prod</a>' in version_page
    form = text(client.get(link))
    assert re.search(rf'<option selected value="{v2}">v2.0</option>', form)
    release_id = start(client, auth, workflow_id, v2)
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED

    project = text(client.get(f"/catalog/projects/{shop.project_id}"))
    # The title is the project's name only, and the workflows are listed once.
    assert re.search(r"<title>Project [^<]* · Slipway</title>", project)
    assert project.count('id="workflows-heading"') == 1
    assert f'href="/workflows/{workflow_id}">to-prod</a>' in project
    assert f'href="/releases/new/{workflow_id}">Start release' in project
    assert re.search(
        rf'href="/releases/{release_id}">#{release_id}</a></td><td><a href="/versions/{v2}">v2.0',
        project,
    )
    release = text(client.get(f"/releases/{release_id}"))
    assert f'<dd><a href="/versions/{v2}">v2.0</a>' in release
    environment = text(client.get(f"/catalog/environments/{shop.environment_id}"))
    assert f'<td><a href="/versions/{v2}">v2.0</a></td><td><a href="/releases/{release_id}">' in (
        environment
    )
    # A viewer may not start releases: no such links for them.
    auth.logout()
    auth.login("viewer")
    assert "Release this version" not in text(client.get(f"/versions/{v2}"))


def test_favicon_is_linked_and_served(client, auth):
    auth.login("viewer")
    page = text(client.get("/"))
    href = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page).group(1)
    icon = client.get(href)
    assert icon.status_code == 200 and icon.data.startswith(b"<svg")


def test_counts_read_in_the_singular_and_the_plural(app, client, auth):
    from tests.webapp.catalog_fixtures import make_catalog
    from webapp.plurals import plural

    assert [plural(n, "service") for n in (0, 1, 2)] == ["0 services", "1 service", "2 services"]
    assert plural(1, "registry") == "1 registry" and plural(3, "registry") == "3 registries"
    make_catalog(app)
    auth.login("viewer")
    home = text(client.get("/"))
    assert re.search(r"<p>1 project, \d+ environments?</p>", home)
    assert "<p>1 cluster</p>" in home and "<p>1 registry</p>" in home
