"""Browser tests: the app served on 127.0.0.1, a real worker, Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

from webapp import create_app
from webapp.extensions import db
from webapp.models import Role, User

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-test-password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: install the Debian package 'chromium'")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def live_app(tmp_path, migrated_db, redis_service):
    """The app on a real port, with one user per role, and a worker process."""
    db_path = tmp_path / "slipway.sqlite"
    shutil.copy(migrated_db, db_path)
    config = {
        "SECRET_KEY": "browser-test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "REDIS_URL": redis_service.extra["url"],
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
    }
    app = create_app(config)
    with app.app_context():
        for name, role in (
            ("admin", Role.ADMIN),
            ("release", Role.RELEASE_ENGINEER),
            ("release2", Role.RELEASE_ENGINEER),
            ("tester", Role.TEST_ENGINEER),
        ):
            user = User(username=name, role=role)
            user.set_password(PASSWORD)
            db.session.add(user)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        **os.environ,
        "FLASK_APP": "webapp",
        "SLIPWAY_SECRET_KEY": config["SECRET_KEY"],
        "SLIPWAY_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "SLIPWAY_REDIS_URL": config["REDIS_URL"],
        "SLIPWAY_INSTANCE_PATH": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        env=env,
        start_new_session=True,
        stdout=open(tmp_path / "worker.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    app.config["LIVE_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield app
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(10)
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/auth/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=f"Welcome, {username}").wait_for()
