"""Shared fixtures: real services on free ports (session-wide), and the app per test."""

from __future__ import annotations

import shutil

import pytest
from redis import Redis

from sandbox import services
from tests.helpers import PASSWORD, PASSWORD_HASH, ROLES
from webapp import create_app
from webapp.extensions import db
from webapp.models import User


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory):
    """A real redis-server for the whole session."""
    svc = services.start_redis(tmp_path_factory.mktemp("redis"))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """An anonymous plain-HTTP registry shared by the session."""
    svc = services.start_registry(tmp_path_factory.mktemp("registry"))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def second_registry(tmp_path_factory):
    """Another anonymous registry, for cross-registry copies."""
    svc = services.start_registry(tmp_path_factory.mktemp("registry2"))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    """A registry with htpasswd basic auth: user ``slipway``, password ``s3cret-pw``."""
    svc = services.start_registry(
        tmp_path_factory.mktemp("auth-registry"), users={"slipway": "s3cret-pw"}
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def sandbox_cluster(tmp_path_factory):
    """A sandbox Kubernetes cluster (sandbox.kube) with quick rollouts, for the session."""
    from sandbox.kube import server
    from sandbox.kube.config import SandboxConfig

    cluster = server.start(
        state_file=str(tmp_path_factory.mktemp("sandbox-cluster") / "state.json"),
        config=SandboxConfig(rollout_seconds=0.3),
    )
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A SQLite file with the real migrations applied; tests copy it."""
    from flask_migrate import upgrade

    from webapp import create_app

    path = tmp_path_factory.mktemp("template-db") / "template.sqlite"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
        # WAL mode: closing the last connection writes everything into the file tests copy.
        db.engine.dispose()
    return path


def _config(instance, db_path, redis_service, **extra) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "REDIS_URL": redis_service.extra["url"],
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        # Tests reap right after a job was sent; production waits a few seconds.
        "JOB_SEND_GRACE": 0,
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


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A real PostgreSQL server (Debian's) for one test module."""
    server = services.start_postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture
def postgres_app(postgres, redis_service, monkeypatch, tmp_path):
    """Build the app on the module's PostgreSQL, chosen by DATABASE_URL as in production."""
    monkeypatch.setenv("DATABASE_URL", postgres.extra["url"])
    monkeypatch.setenv("SLIPWAY_INSTANCE_PATH", str(tmp_path))

    def build():
        return create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "postgres-test-key",
                "REDIS_URL": redis_service.extra["url"],
                "WTF_CSRF_ENABLED": False,
                "SESSION_COOKIE_SECURE": False,
            }
        )

    return build
