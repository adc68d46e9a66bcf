"""The version copy job against real registries: digests, retry, a worker killed mid-copy."""

# The web app's fixtures are imported below, so test arguments shadow them by design.
# ruff: noqa: F811

from __future__ import annotations

import http.client
import http.server
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from sqlalchemy import select

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.webapp.version_fixtures import create_through_form, make_version_catalog, text
from webapp.extensions import db
from webapp.models import ImageStatus, JobRun, JobStatus, Version, VersionStatus

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def registry_digest(address: str, repository: str, reference: str) -> tuple[str, str]:
    """Ask the registry itself, over plain HTTP: (digest, media type) of a manifest."""
    response = requests.get(
        f"http://{address}/v2/{repository}/manifests/{reference}",
        headers={"Accept": ACCEPT},
        timeout=10,
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"], response.headers["Content-Type"]


class SourceProxy:
    """Forwards reads to a registry, recording each path; optionally slows blob bodies."""

    def __init__(self, upstream: str, bytes_per_second: float | None = None):
        self.upstream = upstream
        self.rate = bytes_per_second
        self.paths: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                proxy.paths.append(self.path)
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, headers=headers)
                resp = upstream.getresponse()
                self.send_response(resp.status)
                for name, value in resp.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                if self.command == "HEAD":
                    upstream.close()
                    return
                while chunk := resp.read(256 * 1024):
                    self.wfile.write(chunk)
                    if proxy.rate and "/blobs/" in self.path:
                        time.sleep(len(chunk) / proxy.rate)
                upstream.close()

            do_GET = do_HEAD = _forward  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _version(app) -> Version:
    return db.session.scalars(select(Version)).one()


def test_copies_a_multi_arch_and_a_single_platform_image_with_their_digests(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    single = push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    multi = push_demo_image(
        registry.address, "shop/web", tag, platforms=("linux/amd64", "linux/arm64"), seed="web"
    )
    cat = make_version_catalog(
        app,
        second_registry.address,
        {
            "cart": {"cart": f"{registry.address}/shop/cart:{tag}"},
            "web": {"web": f"{registry.address}/shop/web:{tag}"},
        },
        namespace=f"prod{tag}",
    )
    auth.login("tester")
    created = create_through_form(client, cat, "v1.0")
    assert created.status_code == 302
    progress_url = created.headers["Location"] + "/progress"
    assert client.get(progress_url).status_code == 200  # creating: it polls
    run_queued_jobs(app)
    final = client.get(progress_url)
    assert final.status_code == 286
    assert "hx-trigger" not in text(final)
    target = second_registry.address
    cart_digest, _ = registry_digest(target, f"prod{tag}/cart", "v1.0")
    web_digest, web_type = registry_digest(target, f"prod{tag}/web", "v1.0")
    assert cart_digest == single
    assert web_digest == multi
    assert web_type == "application/vnd.oci.image.index.v1+json"
    with app.app_context():
        version = _version(app)
        assert version.status == VersionStatus.SUCCESS, version.error
        images = {i.container: i for i in version.images}
        assert images["cart"].source_digest == images["cart"].target_digest == single
        assert images["web"].source_digest == images["web"].target_digest == multi
        assert sorted(images["web"].platforms) == ["linux/amd64", "linux/arm64"]
        assert {i.status for i in images.values()} == {ImageStatus.DONE}
        assert db.session.get(JobRun, version.job_run_id).status == JobStatus.SUCCEEDED
    page = text(client.get(created.headers["Location"]))
    assert f"{target}/prod{tag}/web:v1.0@{multi}" in page
    assert f"{registry.address}/shop/cart:{tag}@{single}" in page


def test_retry_copies_only_the_failed_image(app, client, auth, registry, second_registry):
    tag = f"t{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    proxy = SourceProxy(registry.address)
    try:
        cat = make_version_catalog(
            app,
            second_registry.address,
            {
                "cart": {"cart": f"{proxy.address}/shop/cart:{tag}"},
                "web": {"web": f"{proxy.address}/shop/late:{tag}"},  # not pushed yet
            },
            namespace=f"retry{tag}",
        )
        auth.login("tester")
        location = create_through_form(client, cat, "v1").headers["Location"]
        run_queued_jobs(app)
        with app.app_context():
            version = _version(app)
            assert version.status == VersionStatus.FAILED
            assert "1 of 2 images failed: web/web:" in version.error
            images = {i.container: i for i in version.images}
            assert images["cart"].status == ImageStatus.DONE
            assert images["web"].status == ImageStatus.FAILED and images["web"].error
        page = text(client.get(location))
        assert "Retry failed images" in page
        late = push_demo_image(registry.address, "shop/late", tag, seed="late")
        proxy.paths.clear()
        assert client.post(location + "/retry").status_code == 302
        with app.app_context():
            assert _version(app).status == VersionStatus.RETRYING
        run_queued_jobs(app)
        assert proxy.paths, "the retry read nothing from the source"
        assert all("/shop/late/" in path for path in proxy.paths), proxy.paths
        with app.app_context():
            version = _version(app)
            assert version.status == VersionStatus.SUCCESS, version.error
            assert version.error is None
        assert registry_digest(second_registry.address, f"retry{tag}/late", "v1")[0] == late
        # A successful version is never retried again.
        client.post(location + "/retry")
        with app.app_context():
            assert _version(app).status == VersionStatus.SUCCESS
    finally:
        proxy.stop()


def _worker(app_config, tmp_path, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "FLASK_APP": "webapp",
        "SLIPWAY_SECRET_KEY": app_config["SECRET_KEY"],
        "SLIPWAY_DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "SLIPWAY_REDIS_URL": app_config["REDIS_URL"],
        "SLIPWAY_INSTANCE_PATH": str(tmp_path),
        "SLIPWAY_REAPER_INTERVAL": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        env=env,
        start_new_session=True,
        stdout=open(tmp_path / f"{name}.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )


def _wait(app, condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            found = condition()
            if found:
                return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_worker_killed_mid_copy_is_replaced_and_the_version_succeeds(
    app, app_config, client, auth, registry, second_registry, tmp_path
):
    tag = f"t{time.monotonic_ns()}"
    sources = {
        name: push_demo_image(
            registry.address, f"big/{name}", tag, layer_sizes=(6 << 20,), compress=False, seed=name
        )
        for name in ("api", "worker")
    }
    proxy = SourceProxy(registry.address, bytes_per_second=3 << 20)
    workers = []
    try:
        cat = make_version_catalog(
            app,
            second_registry.address,
            {name: {name: f"{proxy.address}/big/{name}:{tag}"} for name in sources},
            namespace=f"kill{tag}",
        )
        auth.login("tester")
        assert create_through_form(client, cat, "v1").status_code == 302
        workers.append(_worker(app_config, tmp_path, "first"))

        def copying():
            version = _version(app)
            if any(i.bytes_copied > 0 for i in version.images):
                return db.session.get(JobRun, version.job_run_id)
            return None

        run = _wait(app, copying, 60, "the first worker to copy bytes")
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
        os.kill(run.pid, signal.SIGKILL)  # the work-horse has its own process group
        with app.app_context():
            version = _version(app)
            assert version.status == VersionStatus.CREATING
            assert any(i.status != ImageStatus.DONE for i in version.images)
        workers.append(_worker(app_config, tmp_path, "second"))
        version = _wait(
            app,
            lambda: (v := _version(app)).status.finished and v,
            90,
            "the second worker to finish the version",
        )
        assert version.status == VersionStatus.SUCCESS, version.error
        with app.app_context():
            lost = db.session.get(JobRun, run.id)
            assert lost.status == JobStatus.FAILED
            assert "Requeued as a new job." in lost.error
            current_id = _version(app).job_run_id
            assert current_id != run.id
        # The run is marked succeeded just after the version: wait for that commit too.
        current = _wait(
            app,
            lambda: (r := db.session.get(JobRun, current_id)).status.finished and r,
            30,
            "the new run to end",
        )
        assert current.status == JobStatus.SUCCEEDED
        for name, digest in sources.items():
            assert registry_digest(second_registry.address, f"kill{tag}/{name}", "v1")[0] == digest
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        proxy.stop()


def test_target_credentials_come_from_the_catalog_and_never_show(
    app, client, auth, registry, auth_registry
):
    tag = f"t{time.monotonic_ns()}"
    digest = push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    cat = make_version_catalog(
        app,
        auth_registry.address,
        {"cart": {"cart": f"{registry.address}/shop/cart:{tag}"}},
        registry_auth=("slipway", "wrong-Password-123"),
        namespace=f"auth{tag}",
    )
    auth.login("tester")
    location = create_through_form(client, cat, "v1").headers["Location"]
    run_queued_jobs(app)
    with app.app_context():
        version = _version(app)
        assert version.status == VersionStatus.FAILED
        run = db.session.get(JobRun, version.job_run_id)
        for message in (version.error, version.images[0].error, run.error):
            assert "wrong-Password-123" not in message
        assert "credentials" in version.error or "unauthorized" in version.error.lower()
        # The admin fixes the password in the catalog; a retry uses it.
        from webapp.models import Registry

        db.session.get(Registry, cat.registry_id).password = "s3cret-pw"
        db.session.commit()
    assert "wrong-Password-123" not in text(client.get(location))
    client.post(location + "/retry")
    run_queued_jobs(app)
    with app.app_context():
        assert _version(app).status == VersionStatus.SUCCESS
    pushed = requests.get(
        f"http://{auth_registry.address}/v2/auth{tag}/cart/manifests/v1",
        headers={"Accept": ACCEPT},
        auth=("slipway", "s3cret-pw"),
        timeout=10,
    )
    assert pushed.headers["Docker-Content-Digest"] == digest
