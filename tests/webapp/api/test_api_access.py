"""Who gets in: bearer tokens (expired, revoked, deactivated), scopes, roles, cookies + CSRF,
the rate limit; and a matrix over every API route."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.helpers import csrf_token_from
from tests.webapp.api.conftest import bearer, issue_token
from webapp import create_app
from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, User
from webapp.models.base import utcnow
from webapp.people import services as people

PUBLIC = {"/api/v1/openapi.json", "/api/v1/docs"}
# A body of the right shape for each write route, so the role check is what answers.
BODIES = {
    "/api/v1/projects/*/versions": {"name": "v9", "environment_id": 1, "registry_id": 1},
    "/api/v1/releases": {"workflow_id": 1, "version_id": 1},
}


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.rule not in PUBLIC:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, rule.rule


def test_every_api_route_needs_a_token_and_every_write_refuses_a_viewer(app, client):
    viewer = bearer(issue_token(app, "viewer"))
    writes = 0
    for method, rule in api_routes(app):
        url = re.sub(r"<[^>]+>", "1", rule)
        anonymous = client.open(url, method=method)
        assert anonymous.status_code == 401, (method, rule)
        assert anonymous.json["error"] and anonymous.headers["WWW-Authenticate"].startswith(
            "Bearer"
        )
        if method == "GET":
            continue
        writes += 1
        body = BODIES.get(re.sub(r"<[^>]+>", "*", rule), {})
        refused = client.open(url, method=method, json=body, headers=viewer)
        assert refused.status_code == 403, (method, rule, refused.json)
    assert writes == 9


def test_expired_revoked_unknown_and_deactivated_tokens_get_401(app, client):
    expired = issue_token(app, "tester", expires_at=utcnow() - timedelta(seconds=1))
    revoked = issue_token(app, "tester", name="old")
    live = issue_token(app, "tester", name="live")
    assert client.get("/api/v1/projects", headers=bearer(live)).status_code == 200
    with app.app_context():
        db.session.scalar(select(ApiToken).where(ApiToken.name == "old")).revoke()
        db.session.commit()
    for secret in (expired, revoked, "slp_not-a-token"):
        response = client.get("/api/v1/projects", headers=bearer(secret))
        assert response.status_code == 401
        assert response.json == {
            "error": "The token is unknown, revoked or expired.",
            "field": None,
        }
    assert (
        client.get("/api/v1/projects", headers={"Authorization": "Basic eDp5"}).status_code == 401
    )
    # Deactivating the user ends their tokens too.
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        tester = db.session.scalar(select(User).where(User.username == "tester"))
        people.deactivate(tester, admin)
    assert client.get("/api/v1/projects", headers=bearer(live)).status_code == 401


def test_last_used_is_recorded(app, client):
    secret = issue_token(app, "viewer")
    client.get("/api/v1/projects", headers=bearer(secret))
    with app.app_context():
        token = db.session.scalar(select(ApiToken))
        assert token.last_used_at is not None and utcnow() - token.last_used_at < timedelta(5)


def test_read_scope_is_needed_to_read_and_audit_is_for_admins(app, client):
    writer_only = bearer(issue_token(app, "admin", ["versions:write"]))
    response = client.get("/api/v1/projects", headers=writer_only)
    assert response.status_code == 403 and "read" in response.json["error"]
    assert (
        client.get("/api/v1/audit", headers=bearer(issue_token(app, "release"))).status_code == 403
    )
    audit = client.get("/api/v1/audit?per_page=2", headers=bearer(issue_token(app, "admin")))
    assert audit.status_code == 200 and audit.json["per_page"] == 2


def test_unknown_api_urls_answer_json(app, client):
    response = client.get("/api/v1/nothing-here", headers=bearer(issue_token(app, "viewer")))
    assert response.status_code == 404 and response.is_json
    missing = client.get("/api/v1/versions/999", headers=bearer(issue_token(app, "viewer")))
    assert missing.status_code == 404 and missing.json["error"] == "No such version."


@pytest.fixture
def strict_csrf(app_config, app):
    """The app as in production: CSRF checked (the test config turns it off)."""
    return create_app({**app_config, "WTF_CSRF_ENABLED": True})


def test_bearer_requests_need_no_csrf_but_cookie_requests_do(app, strict_csrf):
    secret = issue_token(app, "tester")
    client = strict_csrf.test_client()
    url = "/api/v1/versions/999/retry"
    assert client.post(url, headers=bearer(secret)).status_code == 404  # past CSRF: no version
    # A signed-in browser may read the API with its cookie, but writes need the CSRF token.
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post(
        "/auth/login",
        data={"username": "tester", "password": "correct-horse-battery", "csrf_token": token},
    )
    assert client.get("/api/v1/projects").status_code == 200
    refused = client.post(url)
    assert refused.status_code == 400 and "CSRF" in refused.json["error"]
    # Sign-in rotates the CSRF secret: the login page's token is dead, a page's new one works.
    assert client.post(url, headers={"X-CSRFToken": token}).status_code == 400
    fresh = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post(url, headers={"X-CSRFToken": fresh}).status_code == 404


def test_rate_limit_answers_429_with_retry_after(app, client):
    app.config["API_RATE_LIMIT"] = 3
    headers = bearer(issue_token(app, "viewer"))
    codes = [client.get("/api/v1/projects", headers=headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/projects", headers=headers)
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    # Another token has its own count.
    assert (
        client.get("/api/v1/projects", headers=bearer(issue_token(app, "admin"))).status_code == 200
    )


def test_the_document_and_its_page_are_served(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/projects/{project_id}/versions" in document["paths"]
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "swagger-ui-bundle-5.35.0.js" in page and "<script>" not in page
    assert client.get("/static/vendor/swagger-ui-bundle-5.35.0.js").status_code == 200


def test_the_checker_refuses_answers_the_document_does_not_describe(app, client, openapi_checked):
    """The autouse check can fail: an answer off the document is reported."""
    from flask import Response

    good = client.get("/api/v1/projects", headers=bearer(issue_token(app, "viewer")))
    assert good.status_code == 200 and openapi_checked.checked
    with app.test_request_context("/api/v1/projects"):
        from flask import request

        request.url_rule = app.url_map.bind("localhost").match(
            "/api/v1/projects", return_rule=True
        )[0]
        openapi_checked.check(
            app, Response('{"items": [{"id": "x"}]}', 200, mimetype="application/json")
        )
        openapi_checked.check(app, Response("{}", 418, mimetype="application/json"))
    found, openapi_checked.problems = openapi_checked.problems, []
    assert any("'x' is not of type 'integer'" in problem for problem in found)
    assert found[-1] == "GET /api/v1/projects -> 418: status not documented"


def test_creating_a_token_is_audited(app, client, auth):
    auth.login("tester")
    response = client.post(
        "/account/tokens", data={"name": "ci", "scopes": ["read"], "expires_in": 7}
    )
    assert response.status_code == 201
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "create_token"))
        assert event.username == "tester" and "read" in event.detail
    secret = re.search(r'id="token-secret">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/projects", headers=bearer(secret)).status_code == 200


@pytest.mark.parametrize(
    "method,url,body,status,field",
    [
        ("GET", f"/api/v1/versions/{10**30}", None, 404, None),
        ("GET", f"/api/v1/releases?project_id={10**30}", None, 422, "project_id"),
        ("GET", "/api/v1/projects/1/versions?page=abc", None, 422, "page"),
        ("GET", "/api/v1/releases?page=99999999999", None, 422, "page"),
        ("GET", "/api/v1/releases?colour=blue", None, 422, "colour"),
        ("POST", "/api/v1/releases", {"workflow_id": 10**30, "version_id": 1}, 422, "workflow_id"),
        ("POST", "/api/v1/releases", [1], 400, None),
        ("POST", "/api/v1/releases", "{not json", 400, None),
    ],
)
def test_odd_input_is_a_4xx_json_problem(app, client, method, url, body, status, field):
    headers = bearer(issue_token(app, "admin"))
    if isinstance(body, str):
        response = client.open(
            url, method=method, data=body, content_type="application/json", headers=headers
        )
    else:
        response = client.open(url, method=method, json=body, headers=headers)
    assert response.status_code == status, response.json
    assert response.json["field"] == field and response.json["error"]
