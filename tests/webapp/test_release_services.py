"""Starting a release: the version's services, deselect some, the deploy filter in sight."""

# ruff: noqa: F811  (pytest fixtures imported from test_releases are parameters here)
from __future__ import annotations

import re

import pytest

from tests.helpers import run_queued_jobs
from tests.webapp.test_releases import (  # noqa: F401  (fixtures)
    DEPLOY_IMAGES,
    SERVICES,
    access,
    deploy_v1,
    images,
    live_images,
    make_workflow,
    release_row,
    shop,
)
from tests.webapp.version_fixtures import text
from webapp.models import ReleaseStatus, StageKind

pytestmark = pytest.mark.timeout(120)


def test_deselected_services_are_skipped(app, client, auth, shop, access, images):
    deploy_v1(access, shop, images)
    only = (StageKind.DEPLOY, {"content": "images", "only_existing": True, "timeout_seconds": 30})
    workflow_id = make_workflow(app, shop, [only])
    v2 = shop.versions["2.0"]
    auth.login("release")
    form = text(client.get(f"/releases/new/{workflow_id}?version_id={v2}"))
    for name in SERVICES:
        assert re.search(
            rf'<input checked id="services-\d" name="services" type="checkbox" value="{name}">',
            form,
        )
    assert "deploys <strong>only the services that already exist</strong> in prod" in form
    # htmx asks for another version's services; a version of another project is refused.
    partial = client.get(f"/releases/new/{workflow_id}/services?version_id={shop.versions['1.0']}")
    assert partial.status_code == 200
    assert text(partial).strip().startswith('<fieldset id="release-services">')
    assert client.get(f"/releases/new/{workflow_id}/services?version_id=999").status_code == 404

    response = client.post(
        f"/releases/new/{workflow_id}",
        data={"version_id": v2, "services_shown": "1", "services": ["cart", "web"]},
    )
    assert response.status_code == 302
    release_id = int(response.headers["Location"].rsplit("/", 1)[1])
    run_queued_jobs(app)
    release = release_row(app, release_id)
    assert release.status is ReleaseStatus.PASSED
    assert release.selected_services == ["cart", "web"]
    rows = {s.name: (s.status.value, s.message) for s in release.stages[0].services}
    assert rows["api"] == ("skipped", "Skipped: left out when the release was started.")
    assert rows["cart"][0] == rows["web"][0] == "passed"
    assert live_images(access, shop.namespace) == {
        "cart": images[("cart", "2.0")],
        "web": images[("web", "2.0")],
        "api": images[("api", "1.0")],
    }


def test_none_selected_or_unknown_services_answer_422(app, client, auth, shop):
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES])
    auth.login("release")
    url = f"/releases/new/{workflow_id}"
    v2 = shop.versions["2.0"]
    none = client.post(url, data={"version_id": v2, "services_shown": "1"})
    assert none.status_code == 422 and "Pick at least one service to deploy." in text(none)
    bogus = client.post(url, data={"version_id": v2, "services_shown": "1", "services": ["db"]})
    assert bogus.status_code == 422 and "is not a valid choice" in text(bogus)
    # Without JavaScript, "Show this version's services" re-renders the form: nothing starts.
    shown = client.post(url, data={"version_id": v2, "action": "services"})
    assert shown.status_code == 200 and 'value="api"' in text(shown)
    assert "Release #" not in text(shown)
    # A post without the checkboxes (an older page) deploys every service.
    every = client.post(url, data={"version_id": v2})
    assert every.status_code == 302
    release_id = int(every.headers["Location"].rsplit("/", 1)[1])
    assert release_row(app, release_id).selected_services is None
