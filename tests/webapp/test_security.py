"""The holes of issue #12, tried as an attacker would: each test fails on the old code."""

from __future__ import annotations

import json

from sqlalchemy import select

from tests.helpers import run_queued_jobs
from tests.jobs.test_kubeconfig_policy import exec_user, kubeconfig
from webapp.extensions import db
from webapp.models import Cluster, JobRun


def text(response) -> str:
    return response.get_data(as_text=True)


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
