"""The holes of issue #12, tried as an attacker would: each test fails on the old code."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.helpers import run_queued_jobs
from tests.jobs.test_kubeconfig_policy import exec_user, kubeconfig
from webapp.extensions import db
from webapp.models import AuditEvent, Cluster, JobRun, Registry, User


def text(response) -> str:
    return response.get_data(as_text=True)


class Listener:
    """A real HTTP server on 127.0.0.1 that records what it receives and answers 401."""

    def __init__(self, challenge: str = 'Basic realm="listener"'):
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                received.append((self.command, self.path, dict(self.headers)))
                self.send_response(401)
                self.send_header("WWW-Authenticate", challenge)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = do_PUT = _answer  # noqa: N815

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


# --- cluster credentials ---------------------------------------------------


def test_exec_kubeconfig_is_refused_at_save_and_never_runs(app, client, auth, tmp_path):
    marker = tmp_path / "exec-ran"
    auth.login("admin")
    response = client.post(
        "/catalog/clusters/new",
        data={"name": "evil", "kubeconfig_text": kubeconfig(exec_user(marker))},
    )
    assert response.status_code == 422
    assert "exec" in text(response) and "refuses" in text(response)
    run_queued_jobs(app)
    with app.app_context():
        assert db.session.scalar(select(Cluster).where(Cluster.name == "evil")) is None
    assert not marker.exists()


def test_token_file_kubeconfig_is_refused_at_save(client, auth, tmp_path):
    auth.login("admin")
    response = client.post(
        "/catalog/clusters/new",
        data={"name": "evil", "kubeconfig_text": kubeconfig(f"    tokenFile: {tmp_path}/x")},
    )
    assert response.status_code == 422
    assert "tokenFile" in text(response)


def _failed_cluster_test(app, client, auth, kubeconfig_text: str) -> tuple[str, str]:
    """A cluster row stored before the rule (no form), tested; the job page and cluster page."""
    with app.app_context():
        item = Cluster(name="legacy", kubeconfig=kubeconfig_text)
        db.session.add(item)
        db.session.commit()
        cluster_id = item.id
    auth.login("admin")
    client.post(f"/catalog/clusters/{cluster_id}/test")
    run_queued_jobs(app)
    with app.app_context():
        run = db.session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
        assert run.status.value == "failed"
        run_id = run.id
    auth.logout()
    auth.login("viewer")
    return text(client.get(f"/jobs/{run_id}")), text(client.get(f"/catalog/clusters/{cluster_id}"))


def test_job_errors_never_show_file_contents(app, client, auth, tmp_path):
    secret = tmp_path / "secret-key"
    secret.write_text("top-secret-file-content\nsecond line\n")
    job_page, cluster_page = _failed_cluster_test(
        app, client, auth, kubeconfig(f"    tokenFile: {secret}")
    )
    for page in (job_page, cluster_page):
        assert "top-secret-file-content" not in page
    assert "tokenFile" in job_page  # Slipway's own message says what to fix


def test_job_errors_never_show_an_upstream_body(app, client, auth):
    """A "cluster" that is some internal service: its answer stays out of the pages."""
    import http.server
    import threading

    class Internal(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps({"message": "internal-service-private-answer"}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Internal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = kubeconfig("    token: t0ken", server=f"http://127.0.0.1:{server.server_port}")
        job_page, cluster_page = _failed_cluster_test(app, client, auth, config)
    finally:
        server.shutdown()
        server.server_close()
    for page in (job_page, cluster_page):
        assert "internal-service-private-answer" not in page
    assert "HTTP 404" in job_page


# --- headers -----------------------------------------------------------------


def test_every_response_carries_the_security_headers(app, client, auth):
    auth.login("admin")
    responses = [
        client.get("/auth/login"),
        client.get("/"),
        client.get("/catalog/clusters/"),
        client.get("/static/js/slipway.js"),
        client.get("/no-such-page"),
    ]
    for response in responses:
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP in tests


def test_hsts_over_https(client):
    response = client.get("/auth/login", base_url="https://slipway.example")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_pages_have_no_inline_script_or_handlers(app, client, auth):
    import re

    from tests.webapp.catalog_fixtures import make_catalog

    ids = make_catalog(app)
    auth.login("admin")
    for url in ("/", f"/catalog/clusters/{ids.cluster_id}", f"/catalog/projects/{ids.project_id}"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = text(response)
        assert not re.search(r"\son[a-z]+=", html), url
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), url
        assert not re.search(r"\sstyle=", html), url
    assert "data-confirm=" in text(client.get(f"/catalog/clusters/{ids.cluster_id}"))


# --- sessions and sign-in -----------------------------------------------------


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def _copy_with(app, cookie: str):
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_a_copied_cookie_is_dead_after_logout(app, client, auth):
    auth.login("tester")
    copied = _copy_with(app, _session_cookie(client))
    assert copied.get("/").status_code == 200
    auth.logout()
    response = copied.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_copied_cookie_is_dead_after_a_password_change(app, client, auth):
    auth.login("tester")
    copied = _copy_with(app, _session_cookie(client))
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "tester"))
        user.set_password("a-new-long-password")
        db.session.commit()
    for stale in (client, copied):
        response = stale.get("/")
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert auth.login("tester", "a-new-long-password").status_code == 302


def test_sign_out_everywhere_from_the_command_line(app, client, auth, runner):
    auth.login("release")
    assert client.get("/").status_code == 200
    result = runner.invoke(args=["users", "sign-out", "release"])
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 302


def test_a_new_password_from_the_command_line_ends_sessions(app, client, auth, runner):
    auth.login("viewer")
    result = runner.invoke(
        args=["users", "set-password", "viewer", "--password-stdin"], input="brand-new-pw-1\n"
    )
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 302
    assert auth.login("viewer", "brand-new-pw-1").status_code == 302


def test_the_session_has_a_lifetime(app, client, auth):
    auth.login("viewer")
    cookie = client.get_cookie("session")
    assert cookie.expires is not None  # not the 31-day default, nor a forever cookie
    assert app.permanent_session_lifetime.total_seconds() <= 24 * 3600


def test_sign_in_is_throttled_per_user(app, client, auth):
    for _ in range(8):
        assert auth.login("admin", "wrong-password").status_code in (422, 429)
    response = auth.login("admin")  # the right password, too soon
    assert response.status_code == 429
    assert "Too many failed sign-ins" in text(response)
    assert client.get("/").status_code == 302  # not signed in
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "sign_in_throttled" in actions


def test_sign_in_is_throttled_per_address(app, client, auth):
    app.config["SIGN_IN_ADDRESS_FREE_FAILURES"] = 3
    for number in range(5):
        auth.login(f"nobody-{number}", "guess")
    response = auth.login("viewer")
    assert response.status_code == 429


def test_an_unknown_user_costs_a_password_hash(app, client, auth, monkeypatch):
    """No early answer for unknown usernames: a (dummy) hash is checked as for real users."""
    from webapp.auth import routes

    checked = []
    real = routes.check_password_hash
    monkeypatch.setattr(routes, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    assert auth.login("no-such-user", "guess").status_code == 422
    assert checked, "no password hash was checked for the unknown user"


def test_the_csrf_token_rotates_at_sign_in(app, redis_service, tmp_path):
    from tests.helpers import PASSWORD, csrf_token_from

    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    before = csrf_token_from(text(client.get("/auth/login")))
    with client.session_transaction() as stored:
        raw_before = stored["csrf_token"]
    response = client.post(
        "/auth/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": before}
    )
    assert response.status_code == 302
    client.get("/")
    with client.session_transaction() as stored:
        assert stored.get("csrf_token") != raw_before


# --- registries -----------------------------------------------------------------


def test_a_new_registry_address_never_gets_the_old_password(app, client, auth, listener):
    from tests.webapp.catalog_fixtures import make_catalog

    ids = make_catalog(app)  # harbor: robot / registry-SECRET-pw-456 at registry.example.com
    auth.login("admin")
    response = client.post(
        f"/catalog/registries/{ids.registry_id}/edit",
        data={
            "name": "harbor",
            "address": listener.address,
            "namespace": "shop",
            "username": "robot",
            "password": "",
            "plain_http": "y",
        },
        follow_redirects=True,
    )
    assert "enter the password for the new address" in text(response)
    client.post(f"/catalog/registries/{ids.registry_id}/test")
    run_queued_jobs(app)
    assert listener.received, "the registry test did not reach the new address"
    for _method, _path, headers in listener.received:
        assert "Authorization" not in headers
    with app.app_context():
        assert db.session.get(Registry, ids.registry_id).password is None


# --- production environments ------------------------------------------------------


def _production_env(app) -> tuple[int, int]:
    from tests.webapp.catalog_fixtures import make_catalog
    from webapp.models import Environment

    ids = make_catalog(app)
    with app.app_context():
        env = Environment(
            project_id=ids.project_id,
            name="prod",
            namespace="shop-prod",
            cluster_id=ids.cluster_id,
            production=True,
        )
        db.session.add(env)
        db.session.commit()
        return env.id, ids.project_id


def test_a_tester_cannot_sync_a_production_environment(app, client, auth):
    env_id, _ = _production_env(app)
    auth.login("tester")
    page = text(client.get(f"/catalog/environments/{env_id}"))
    assert "Sync from cluster" not in page
    response = client.post(f"/catalog/environments/{env_id}/sync")
    assert response.status_code == 403
    assert "production" in text(response)
    with app.app_context():
        assert db.session.scalar(select(JobRun).where(JobRun.kind == "environment_sync")) is None
    auth.logout()
    auth.login("release")
    assert "Sync from cluster" in text(client.get(f"/catalog/environments/{env_id}"))
    assert client.post(f"/catalog/environments/{env_id}/sync").status_code == 302


def test_a_production_namespace_is_not_shared_with_non_production(app, client, auth):
    env_id, project_id = _production_env(app)
    with app.app_context():
        from webapp.models import Environment

        cluster_id = db.session.get(Environment, env_id).cluster_id
    auth.login("admin")
    response = client.post(
        f"/catalog/projects/{project_id}/environments/new",
        data={"name": "staging", "cluster_id": cluster_id, "namespace": "shop-prod"},
    )
    assert response.status_code == 422
    assert "belongs to the production environment shop/prod" in text(response)
    # The other way round: the dev namespace (non-production) cannot become production.
    response = client.post(
        f"/catalog/projects/{project_id}/environments/new",
        data={"name": "live", "cluster_id": cluster_id, "namespace": "shop-dev", "production": "y"},
    )
    assert response.status_code == 422


# --- outbound requests: sources only from the catalog ------------------------------


def test_a_yaml_source_outside_the_catalog_is_refused(app, client, auth, listener):
    from tests.webapp.version_fixtures import images_post, make_version_catalog, step_url
    from webapp.models import DeployedImage, Version

    cat = make_version_catalog(app, "127.0.0.1:5999", {"cart": {"cart": "src.example.com/c:1"}})
    with app.app_context():
        # What a sync would record if the cluster ran an image from an internal service.
        image = db.session.scalar(select(DeployedImage))
        image.image = f"{listener.address}/x:1"
        db.session.commit()
    auth.login("tester")
    client.post(step_url(cat, 1), data={"action": "next", "name": "v1"})
    client.post(
        step_url(cat, 2),
        data={
            "action": "next",
            "environment_id": cat.environment_id,
            "service_ids": list(cat.service_ids.values()),
        },
    )
    page = client.post(
        step_url(cat, 3), data={"registry_id": cat.registry_id, "action": "registry"}
    )
    response = client.post(
        step_url(cat, 3), data=images_post(text(page), "create", registry_id=cat.registry_id)
    )
    assert response.status_code == 422
    assert "not a registry of the catalog" in text(response)
    run_queued_jobs(app)
    with app.app_context():
        assert db.session.scalars(select(Version)).all() == []
    assert listener.received == []


def test_a_helm_values_source_outside_the_catalog_is_refused(
    app, client, auth, registry, second_registry, listener
):
    from tests.webapp.helm_version_fixtures import (
        make_helm_catalog,
        step_2_data,
        step_url,
        to_step_2,
    )

    cat = make_helm_catalog(app, registry.address, second_registry.address, {"api": {}})
    auth.login("tester")
    html = to_step_2(client, cat, "ssrf")
    data = step_2_data(cat, html, "next")
    assert registry.address in data["values-0-values"]
    data["values-0-values"] = data["values-0-values"].replace(registry.address, listener.address)
    response = client.post(step_url(cat, 2), data=data)
    assert response.status_code == 422
    assert "not a registry of the catalog" in text(response)
    run_queued_jobs(app)
    assert listener.received == []


# --- files and keys --------------------------------------------------------------


def test_the_sqlite_file_is_private(app, client, auth):
    import os
    import stat

    auth.login("viewer")
    with app.app_context():
        path = db.engine.url.database
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_derived_encryption_key_is_warned_about(app_config, caplog):
    from webapp import create_app

    create_app({**app_config, "ENCRYPTION_KEY": None})
    assert "SLIPWAY_ENCRYPTION_KEY is not set" in caplog.text
    caplog.clear()
    create_app({**app_config, "ENCRYPTION_KEY": "a-long-random-encryption-key-for-tests"})
    assert "SLIPWAY_ENCRYPTION_KEY" not in caplog.text


def test_the_copy_job_checks_sources_again(app, client, auth, listener, second_registry):
    """A source registry removed from the catalog after the version was queued: no request."""
    from tests.webapp.version_fixtures import create_through_form, make_version_catalog
    from webapp.models import Version

    cat = make_version_catalog(
        app, second_registry.address, {"cart": {"cart": f"{listener.address}/shop/cart:1"}}
    )
    auth.login("tester")
    assert create_through_form(client, cat, "v1").status_code == 302
    with app.app_context():
        source = db.session.scalar(select(Registry).where(Registry.address == listener.address))
        db.session.delete(source)
        db.session.commit()
    run_queued_jobs(app)
    assert listener.received == []
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status.value == "failed"
        assert "not a registry of the catalog" in version.images[0].error


def test_unexpected_job_errors_are_replaced_by_slipway_text():
    from jobs.kube.access import ClusterUnreachable
    from jobs.runtime import JobFailed, public_message

    leaked = ValueError("Invalid header value b'Bearer top-secret-file-content'")
    message = public_message(leaked, "Test connection to cluster c")
    assert "top-secret" not in message
    assert message.startswith("Test connection to cluster c failed unexpectedly (ValueError)")
    assert "worker log" in message
    assert "s3cret" not in public_message(KeyError("s3cret"), "Sync")
    own = ClusterUnreachable("cannot reach the Kubernetes API at https://k:6443; check it")
    assert public_message(own, "x") == str(own)
    assert public_message(JobFailed("the digest differs"), "x") == "the digest differs"
    assert public_message(LookupError("the cluster was deleted"), "x") == "the cluster was deleted"


def test_a_chart_reference_outside_the_catalog_is_refused(app, client, auth, listener):
    from webapp.models import Project, ProjectKind

    with app.app_context():
        project = Project(key="charts", name="Charts", kind=ProjectKind.HELM)
        db.session.add(project)
        db.session.commit()
        project_id = project.id
    auth.login("admin")
    response = client.post(
        f"/catalog/projects/{project_id}/services/new",
        data={
            "name": "api",
            "order_group": 1,
            "chart_reference": f"oci://{listener.address}/charts/api:1.0.0",
        },
    )
    assert response.status_code == 422
    assert "not a registry of the catalog" in text(response)
    run_queued_jobs(app)
    assert listener.received == []


def test_a_session_ends_a_day_after_sign_in_however_busy(app, client, auth):
    import time

    auth.login("viewer")
    assert client.get("/").status_code == 200
    with client.session_transaction() as stored:
        stored["signed_in_at"] = int(time.time()) - 25 * 3600
    assert client.get("/").status_code == 302


def test_switching_a_registry_to_plain_http_drops_the_password(app, client, auth):
    from tests.webapp.catalog_fixtures import make_catalog

    ids = make_catalog(app)
    auth.login("admin")
    response = client.post(
        f"/catalog/registries/{ids.registry_id}/edit",
        data={
            "name": "harbor",
            "address": "registry.example.com",
            "namespace": "shop",
            "username": "robot",
            "password": "",  # a browser always sends the (empty) field
            "verify_tls": "y",
            "plain_http": "y",
        },
        follow_redirects=True,
    )
    assert "enter the password for the new address" in text(response)
    with app.app_context():
        assert db.session.get(Registry, ids.registry_id).password is None
    # Saving again with nothing changed keeps a password entered for the address.
    client.post(
        f"/catalog/registries/{ids.registry_id}/edit",
        data={
            "name": "harbor",
            "address": "registry.example.com",
            "namespace": "shop",
            "username": "robot",
            "password": "new-pw",
            "plain_http": "y",
        },
    )
    client.post(
        f"/catalog/registries/{ids.registry_id}/edit",
        data={
            "name": "harbor",
            "address": "registry.example.com",
            "namespace": "shop",
            "username": "robot",
            "password": "",
            "plain_http": "y",
        },
    )
    with app.app_context():
        assert db.session.get(Registry, ids.registry_id).password == "new-pw"
