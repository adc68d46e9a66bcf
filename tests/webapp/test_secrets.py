"""Secrets are encrypted at rest and never shown or logged."""

import logging

import pytest
from sqlalchemy import text

from tests.webapp.catalog_fixtures import make_catalog
from webapp.extensions import db

REGISTRY_PASSWORD = "registry-SECRET-pw-456"
KUBE_TOKEN = "kube-token-SECRET-value-123"


def test_raw_columns_hold_no_plaintext(app):
    make_catalog(app)
    with app.app_context():
        raw_password = db.session.execute(text("SELECT password FROM registries")).scalar()
        raw_kubeconfig = db.session.execute(text("SELECT kubeconfig FROM clusters")).scalar()
    assert raw_password and REGISTRY_PASSWORD not in raw_password
    assert raw_kubeconfig and KUBE_TOKEN not in raw_kubeconfig
    assert raw_password.startswith("gAAAA")  # a Fernet token


def test_a_different_key_cannot_decrypt(app, app_config):
    from webapp import create_app
    from webapp.models import Registry

    ids = make_catalog(app)
    other = create_app({**app_config, "SECRET_KEY": "another-key-entirely"})
    with other.app_context(), pytest.raises(ValueError, match="cannot be decrypted"):
        db.session.get(Registry, ids.registry_id)


def test_no_page_shows_a_secret(app, client, auth, caplog):
    ids = make_catalog(app)
    auth.login("admin")
    caplog.set_level(logging.DEBUG)
    urls = [
        f"/catalog/registries/{ids.registry_id}",
        f"/catalog/registries/{ids.registry_id}/edit",
        f"/catalog/clusters/{ids.cluster_id}",
        f"/catalog/clusters/{ids.cluster_id}/edit",
        "/catalog/registries/",
        "/catalog/clusters/",
        "/audit/",
    ]
    for url in urls:
        page = client.get(url).get_data(as_text=True)
        assert REGISTRY_PASSWORD not in page, url
        assert KUBE_TOKEN not in page, url
    client.post(
        f"/catalog/registries/{ids.registry_id}/edit",
        data={
            "name": "harbor",
            "address": "registry.example.com",
            "username": "robot",
            "password": "NEW-SECRET-pw",
        },
    )
    assert "NEW-SECRET-pw" not in client.get("/audit/").get_data(as_text=True)
    assert REGISTRY_PASSWORD not in caplog.text and "NEW-SECRET-pw" not in caplog.text
    assert KUBE_TOKEN not in caplog.text
