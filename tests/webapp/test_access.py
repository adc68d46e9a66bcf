"""Every route x every role: who gets 200, a redirect, or 403."""

from __future__ import annotations

import pytest

from tests.helpers import ROLES
from tests.webapp.catalog_fixtures import make_catalog

ALL = set(ROLES)
ADMIN = {"admin"}

# (method, url template, roles allowed, status for allowed roles)
MATRIX = [
    ("GET", "/", ALL, 200),
    ("GET", "/catalog/", ALL, 200),
    ("GET", "/catalog/clusters/", ALL, 200),
    ("GET", "/catalog/clusters/{cluster_id}", ALL, 200),
    ("GET", "/catalog/clusters/new", ADMIN, 200),
    ("GET", "/catalog/clusters/{cluster_id}/edit", ADMIN, 200),
    ("POST", "/catalog/clusters/{cluster_id}/delete", ADMIN, 302),
    ("POST", "/catalog/clusters/{cluster_id}/test", ADMIN, 302),
    ("GET", "/catalog/registries/", ALL, 200),
    ("GET", "/catalog/registries/{registry_id}", ALL, 200),
    ("GET", "/catalog/registries/new", ADMIN, 200),
    ("GET", "/catalog/registries/{registry_id}/edit", ADMIN, 200),
    ("POST", "/catalog/registries/{registry_id}/delete", ADMIN, 302),
    ("POST", "/catalog/registries/{registry_id}/test", ADMIN, 302),
    ("GET", "/catalog/projects/", ALL, 200),
    ("GET", "/catalog/projects/{project_id}", ALL, 200),
    ("GET", "/catalog/projects/new", ADMIN, 200),
    ("GET", "/catalog/projects/{project_id}/edit", ADMIN, 200),
    ("POST", "/catalog/projects/{project_id}/delete", ADMIN, 302),
    ("GET", "/catalog/projects/{project_id}/services/new", ADMIN, 200),
    ("GET", "/catalog/projects/{project_id}/environments/new", ADMIN, 200),
    ("GET", "/catalog/services/{service_id}", ALL, 200),
    ("GET", "/catalog/services/{service_id}/chart.tgz", ALL, 404),
    ("GET", "/catalog/services/{service_id}/edit", ADMIN, 200),
    ("POST", "/catalog/services/{service_id}/delete", ADMIN, 302),
    ("GET", "/catalog/environments/{environment_id}", ALL, 200),
    ("GET", "/catalog/environments/{environment_id}/edit", ADMIN, 200),
    ("POST", "/catalog/environments/{environment_id}/delete", ADMIN, 302),
    ("GET", "/catalog/environments/{environment_id}/services/{service_id}", ADMIN, 200),
    ("POST", "/catalog/environments/{environment_id}/sync", {"admin", "release", "tester"}, 302),
    ("GET", "/jobs/", ALL, 200),
    ("GET", "/jobs/{job_run_id}", ALL, 200),
    ("GET", "/jobs/{job_run_id}/status", ALL, 200),
    ("GET", "/audit/", ADMIN, 200),
    ("POST", "/auth/logout", ALL, 302),
    # Versions. The matrix catalog has no version, so ids in {project_id}'s place answer
    # 404 to whoever passes the role check; the pages themselves are tested in test_versions*.
    ("GET", "/versions/projects/{project_id}/", ALL, 200),
    ("GET", "/versions/projects/{project_id}/new", {"admin", "tester"}, 302),
    # {cluster_id} is 1 (the only cluster): step 1 of the form.
    ("GET", "/versions/projects/{project_id}/new/{cluster_id}", {"admin", "tester"}, 200),
    ("POST", "/versions/projects/{project_id}/new/discard", {"admin", "tester"}, 302),
    ("GET", "/versions/projects/{project_id}/name-check", {"admin", "tester"}, 200),
    ("GET", "/versions/projects/{project_id}/new/target-tags", {"admin", "tester"}, 286),
    ("GET", "/versions/{project_id}", ALL, 404),
    ("GET", "/versions/{project_id}/progress", ALL, 404),
    ("GET", "/versions/{project_id}/live", ALL, 404),
    ("POST", "/versions/{project_id}/retry", {"admin", "tester"}, 404),
    ("POST", "/versions/{project_id}/delete", {"admin", "tester"}, 404),
    ("POST", "/versions/{project_id}/copy", {"admin", "tester"}, 404),
    ("GET", "/versions/{project_id}/services/{service_id}.yaml", ALL, 404),
    # Workflows and releases. The matrix catalog has none, so ids in {project_id}'s place answer
    # 404 to whoever passes the role check; the pages are tested in test_workflows/test_releases*.
    ("GET", "/workflows/", ALL, 200),
    ("GET", "/workflows/projects/{project_id}/new", ADMIN, 200),
    ("GET", "/workflows/{project_id}", ALL, 404),
    ("GET", "/workflows/{project_id}/edit", ADMIN, 404),
    ("POST", "/workflows/{project_id}/delete", ADMIN, 404),
    ("GET", "/workflows/{project_id}/stages/new/{cluster_id}", ADMIN, 404),
    ("GET", "/workflows/{project_id}/stages/{service_id}/edit", ADMIN, 404),
    ("POST", "/workflows/{project_id}/stages/{service_id}/delete", ADMIN, 404),
    ("POST", "/workflows/{project_id}/stages/{service_id}/up", ADMIN, 404),
    ("POST", "/workflows/{project_id}/stages/{service_id}/down", ADMIN, 404),
    ("GET", "/releases/", ALL, 200),
    ("GET", "/releases/rows", ALL, 200),
    ("GET", "/releases/awaiting", ALL, 200),
    ("GET", "/releases/environments/{environment_id}", ALL, 200),
    ("GET", "/releases/new/{project_id}", {"admin", "release", "tester"}, 404),
    ("GET", "/releases/new/{project_id}/services", {"admin", "release", "tester"}, 404),
    ("GET", "/releases/{project_id}", ALL, 404),
    ("GET", "/releases/{project_id}/timeline", ALL, 404),
    ("POST", "/releases/{project_id}/decision", {"admin", "release"}, 404),
    ("POST", "/releases/{project_id}/cancel", {"admin", "release"}, 404),
    ("POST", "/releases/{project_id}/retry", {"admin", "release"}, 404),
    ("POST", "/releases/{project_id}/rollback", {"admin", "release"}, 404),
    # Helm chart downloads of a version (pages tested in test_versions_helm*).
    ("GET", "/versions/{project_id}/charts/{service_id}.tgz", ALL, 404),
    ("GET", "/versions/{project_id}/charts.tar", ALL, 404),
    ("GET", "/versions/projects/{project_id}/new/chart-versions", {"admin", "tester"}, 286),
    # People ({cluster_id} is 1: the admin user itself) and every user's own account.
    ("GET", "/people/", ADMIN, 200),
    ("GET", "/people/new", ADMIN, 200),
    ("GET", "/people/{cluster_id}", ADMIN, 200),
    ("POST", "/people/{cluster_id}/role", ADMIN, 422),
    ("POST", "/people/{cluster_id}/deactivate", ADMIN, 302),  # refused: not yourself
    ("POST", "/people/{cluster_id}/reactivate", ADMIN, 302),
    ("POST", "/people/{cluster_id}/password", ADMIN, 200),
    ("GET", "/account/password", ALL, 200),
    ("GET", "/account/tokens", ALL, 200),
    ("POST", "/account/tokens/{cluster_id}/revoke", ALL, 404),
    # Compare (pages tested in test_compare): no version in the matrix catalog, so 404;
    # the environment's picker without a version answers 422.
    ("GET", "/compare/versions/{project_id}", ALL, 404),
    ("GET", "/compare/versions/{project_id}/{project_id}", ALL, 404),
    ("GET", "/compare/versions/{project_id}/environments/{environment_id}", ALL, 404),
    ("GET", "/compare/environments/{environment_id}", ALL, 422),
    # Notifications: admins only; the matrix catalog has no target, so ids answer 404.
    ("GET", "/notifications/projects/{project_id}/", ADMIN, 200),
    ("GET", "/notifications/projects/{project_id}/new", ADMIN, 200),
    ("GET", "/notifications/targets/{project_id}", ADMIN, 404),
    ("GET", "/notifications/targets/{project_id}/edit", ADMIN, 404),
    ("POST", "/notifications/targets/{project_id}/delete", ADMIN, 404),
    ("GET", "/metrics/projects/{project_id}", ALL, 200),
]
PUBLIC = {"/auth/login", "/healthz", "/static/<path:filename>"}


@pytest.mark.parametrize("role", [None, *ROLES])
@pytest.mark.parametrize("method,url,allowed,status", MATRIX)
def test_access(app, client, auth, role, method, url, allowed, status):
    ids = make_catalog(app)
    if role:
        auth.login(role)
    response = client.open(url.format(**vars(ids)), method=method)
    if role is None:
        assert response.status_code == 302
        assert "/auth/login" in response.headers["Location"]
    elif role in allowed:
        assert response.status_code == status, response.get_data(as_text=True)[:400]
    else:
        assert response.status_code == 403
        assert "Not allowed" in response.get_data(as_text=True)


def test_matrix_covers_every_route(app):
    """A new route must be added to the matrix above."""
    import re

    covered = {re.sub(r"\{(\w+)\}", "*", url) for _, url, _, _ in MATRIX}
    # The JSON API answers 401/403 JSON, not redirects: tests/webapp/api/test_api_access.py
    # holds its own matrix over every API route.
    routes = {
        re.sub(r"<[^>]+>", "*", rule.rule)
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api/")
    }
    public = {re.sub(r"<[^>]+>", "*", url) for url in PUBLIC}
    assert routes - public - covered == set()


def test_public_pages_need_no_sign_in(client):
    assert client.get("/auth/login").status_code == 200
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/static/css/slipway.css").status_code == 200


def test_post_without_csrf_token_is_refused(app_config, app):
    from webapp import create_app

    strict = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    client = strict.test_client()
    response = client.post("/auth/login", data={"username": "admin", "password": "x"})
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)


def test_csrf_token_lets_the_form_through(app_config, app):
    import re

    from tests.helpers import PASSWORD
    from webapp import create_app

    strict = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    client = strict.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/auth/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    # a state-changing request without the token is refused even when signed in
    assert client.post("/auth/logout").status_code == 400
