"""The same app on PostgreSQL (selected by DATABASE_URL): migrations, catalog, secrets."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from tests.helpers import PASSWORD as HELPERS_PASSWORD
from tests.helpers import PASSWORD_HASH
from tests.webapp.samples import KUBECONFIG
from webapp.extensions import db
from webapp.models import Project, ProjectKind, Registry, Role, User, Version

pytestmark = pytest.mark.slow


def test_migrations_and_catalog_on_postgresql(postgres_app):
    app = postgres_app()
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


def test_bad_input_is_refused_on_postgresql_too(postgres_app):
    """PostgreSQL refuses NUL and 8-byte ids outright: the boundary answers before it is asked."""
    app = postgres_app()
    with app.app_context():
        upgrade()
        if db.session.scalar(db.select(User).where(User.username == "boundary")) is None:
            db.session.add(User(username="boundary", role=Role.ADMIN, password_hash=PASSWORD_HASH))
        registry = Registry(name="pg-used", address="used.example.com")
        project = Project(key="pg-shop", name="PG Shop", kind=ProjectKind.K8S_YAML)
        db.session.add_all([registry, project])
        db.session.flush()
        db.session.add(Version(project_id=project.id, name="v1", target_registry_id=registry.id))
        db.session.commit()
        registry_id = registry.id
    client = app.test_client()
    client.post("/auth/login", data={"username": "boundary", "password": HELPERS_PASSWORD})

    nul = client.post(
        "/catalog/projects/new", data={"key": "nul", "name": "a\x00b", "kind": "k8s_yaml"}
    )
    assert nul.status_code == 422
    assert "Remove the control characters" in nul.get_data(as_text=True)
    assert client.get(f"/catalog/registries/{2**63}").status_code == 404
    assert client.get("/audit/?object=%00").status_code == 400
    refused = client.post(f"/catalog/registries/{registry_id}/delete", follow_redirects=True)
    assert "Cannot delete registry pg-used" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Registry, registry_id) is not None
        db.session.remove()
        db.engine.dispose()
