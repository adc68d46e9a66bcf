"""Slipway: release management for Kubernetes services."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from webapp import config as config_module
from webapp.boundary import BoundedIntConverter, refuse_control_characters_in_query
from webapp.database import enforce_foreign_keys
from webapp.extensions import csrf, db, htmx, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


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

    db.init_app(app)
    enforce_foreign_keys(app)
    migrate.init_app(app, db, directory=str(ROOT / "webapp" / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    # Before the blueprints: their rules compile ``<int:...>`` with this converter.
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_control_characters_in_query)

    from webapp import audit, auth, catalog, jobruns, main, releases, versions, workflows

    for module in (main, auth, catalog, jobruns, audit, versions, workflows, releases):
        app.register_blueprint(module.bp)
    main.register_error_pages(app)
    from webapp.auth.access import require_sign_in

    app.before_request(require_sign_in)
    login_manager.login_view = "auth.login"

    from webapp.cli import register_commands

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
