"""Fixtures for the web app: a migrated database per test, a client, signed-in users."""

from __future__ import annotations

import re
import shutil

import pytest
from werkzeug.security import generate_password_hash

from webapp import create_app
from webapp.extensions import db
from webapp.models import Role, User

PASSWORD = "correct-horse-battery"
# A cheap hash keeps sign-in fast in tests; production uses werkzeug's default (scrypt).
PASSWORD_HASH = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
ROLES = {
    "admin": Role.ADMIN,
    "release": Role.RELEASE_ENGINEER,
    "tester": Role.TEST_ENGINEER,
    "viewer": Role.VIEWER,
}


def _config(instance, db_path, redis_service, **extra) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "REDIS_URL": redis_service.extra["url"],
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        **extra,
    }


@pytest.fixture
def app_config(tmp_path, migrated_db, redis_service):
    db_path = tmp_path / "slipway.sqlite"
    shutil.copy(migrated_db, db_path)
    return _config(tmp_path, db_path, redis_service)


@pytest.fixture
def app(app_config, redis_service, tmp_path, monkeypatch):
    monkeypatch.setenv("SLIPWAY_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(app_config)
    with app.app_context():
        for username, role in ROLES.items():
            user = User(username=username, role=role, password_hash=PASSWORD_HASH)
            db.session.add(user)
        db.session.commit()
    from redis import Redis

    Redis.from_url(redis_service.extra["url"]).flushdb()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, username: str = "admin", password: str = PASSWORD):
        return self._client.post("/auth/login", data={"username": username, "password": password})

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)
