"""Slipway: release management for Kubernetes services."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from webapp import (
    account,
    api,
    audit,
    auth,
    catalog,
    compare,
    headers,
    jobruns,
    main,
    metrics,
    notifications,
    people,
    releases,
    versions,
    workflows,
)
from webapp import config as config_module
from webapp.auth import permissions
from webapp.auth.access import require_sign_in
from webapp.boundary import BoundedIntConverter, refuse_control_characters_in_query
from webapp.cli import register_commands
from webapp.database import enforce_foreign_keys, protect_sqlite_files
from webapp.extensions import csrf, db, htmx, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def _sqlite_busy_timeout(app: Flask) -> None:
    """On SQLite a writer waits this long for another writer instead of failing at once."""
    if not (app.config.get("SQLALCHEMY_DATABASE_URI") or "").startswith("sqlite"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("timeout", app.config["SQLITE_BUSY_TIMEOUT_MS"] / 1000)
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


class InsecureConfiguration(RuntimeError):
    """The app was asked to run in production with development settings."""


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then ``SLIPWAY_*`` / ``DATABASE_URL``, then test config."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("SLIPWAY_INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config_module.DefaultConfig)
    # Relative: Flask-SQLAlchemy puts it in the instance folder and creates that folder.
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///slipway.sqlite"
    app.config.from_prefixed_env("FLASK")
    app.config.update(config_module.from_environment(os.environ))
    if test_config:
        app.config.update(test_config)
    _refuse_insecure_secret(app)
    _warn_derived_encryption_key(app)
    protect_sqlite_files()
    _sqlite_busy_timeout(app)

    db.init_app(app)
    enforce_foreign_keys(app)
    migrate.init_app(app, db, directory=str(ROOT / "webapp" / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    headers.init_app(app)
    # Before the blueprints: their rules compile ``<int:...>`` with this converter.
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_control_characters_in_query)

    for module in (
        main,
        auth,
        catalog,
        jobruns,
        audit,
        versions,
        workflows,
        releases,
        people,
        account,
        api,
        compare,
        notifications,
        metrics,
    ):
        app.register_blueprint(module.bp)
    main.register_error_pages(app)

    permissions.init_app(app)

    app.before_request(require_sign_in)
    login_manager.login_view = "auth.login"

    register_commands(app)
    return app


def _refuse_insecure_secret(app: Flask) -> None:
    if app.debug or app.testing:
        return
    if app.config["SECRET_KEY"] == config_module.DEFAULT_SECRET_KEY:
        raise InsecureConfiguration(
            "refusing to start with the default SECRET_KEY: set SLIPWAY_SECRET_KEY "
            "to a long random string (or run with FLASK_DEBUG=1 for development)"
        )


def _warn_derived_encryption_key(app: Flask) -> None:
    if app.config.get("ENCRYPTION_KEY"):
        return
    app.logger.warning(
        "SLIPWAY_ENCRYPTION_KEY is not set: secrets at rest (registry passwords, kubeconfigs) "
        "are encrypted with a key derived from SLIPWAY_SECRET_KEY, so anyone who learns the "
        "session key can read them and rotating it makes them unreadable. Set "
        "SLIPWAY_ENCRYPTION_KEY to its own long random value (see README)."
    )
