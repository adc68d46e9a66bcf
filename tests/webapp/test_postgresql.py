"""The same app on PostgreSQL (selected by DATABASE_URL): migrations, catalog, secrets."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from sandbox import services
from tests.helpers import PASSWORD_HASH
from tests.webapp.samples import KUBECONFIG
from webapp import create_app
from webapp.extensions import db
from webapp.models import Role, User

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = services.start_postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


def test_migrations_and_catalog_on_postgresql(postgres, redis_service, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", postgres.extra["url"])
    monkeypatch.setenv("SLIPWAY_INSTANCE_PATH", str(tmp_path))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "postgres-test-key",
            "REDIS_URL": redis_service.extra["url"],
            "WTF_CSRF_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
        }
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    with app.app_context():
        upgrade()
        assert db.engine.dialect.name == "postgresql"
        db.session.add(User(username="admin", role=Role.ADMIN, password_hash=PASSWORD_HASH))
        db.session.commit()
    client = app.test_client()
    from tests.helpers import PASSWORD

    assert (
        client.post("/auth/login", data={"username": "admin", "password": PASSWORD}).status_code
        == 302
    )
    created = client.post(
        "/catalog/clusters/new", data={"name": "pg-cluster", "kubeconfig_text": KUBECONFIG}
    )
    assert created.status_code == 302
    duplicate = client.post(
        "/catalog/clusters/new", data={"name": "pg-cluster", "kubeconfig_text": KUBECONFIG}
    )
    assert duplicate.status_code == 422
    registry = client.post(
        "/catalog/registries/new",
        data={
            "name": "pg-reg",
            "address": "r.example.com",
            "username": "u",
            "password": "pg-SECRET",
        },
    )
    assert registry.status_code == 302
    with app.app_context():
        raw = db.session.execute(text("SELECT password FROM registries")).scalar()
        assert raw and "pg-SECRET" not in raw
        audit = db.session.execute(text("SELECT count(*) FROM audit_events")).scalar()
        assert audit >= 3  # sign-in and two creations
        db.session.remove()
        db.engine.dispose()
