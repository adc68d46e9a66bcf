"""The app factory: configuration layering and the refusal to run with the default key."""

import pytest

from webapp import InsecureConfiguration, create_app
from webapp.config import DEFAULT_SECRET_KEY


def test_defaults_then_environment_then_test_config(monkeypatch, tmp_path):
    monkeypatch.setenv("SLIPWAY_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SLIPWAY_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SLIPWAY_PAGE_SIZE", "7")
    monkeypatch.setenv("SLIPWAY_SESSION_COOKIE_SECURE", "false")
    app = create_app({"TESTING": True, "PAGE_SIZE": 3})
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["PAGE_SIZE"] == 3  # test config wins over the environment
    assert app.config["JOB_TIMEOUT"] == 3600  # a default nobody overrode
    with app.app_context():
        from webapp.extensions import db

        assert db.engine.url.database == str(tmp_path / "slipway.sqlite")


def test_database_url_selects_postgresql(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/slipway")
    app = create_app({"TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql://u:p@db/slipway"


def test_flask_prefixed_environment_is_read(monkeypatch):
    monkeypatch.setenv("FLASK_MAX_YAML_BYTES", "2048")
    assert create_app({"TESTING": True}).config["MAX_YAML_BYTES"] == 2048


def test_default_secret_key_is_refused_outside_debug_and_testing(monkeypatch):
    monkeypatch.delenv("SLIPWAY_SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    with pytest.raises(InsecureConfiguration, match="SLIPWAY_SECRET_KEY"):
        create_app()
    assert create_app({"TESTING": True}).config["SECRET_KEY"] == DEFAULT_SECRET_KEY
    assert create_app({"DEBUG": True}).debug


def test_a_real_secret_key_starts(monkeypatch):
    monkeypatch.setenv("SLIPWAY_SECRET_KEY", "a-long-random-production-secret")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
