"""Schema upgrades on start, and the same foreign-key rules on SQLite as on PostgreSQL."""

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event

from webapp.extensions import db


def enforce_foreign_keys(app: Flask) -> None:
    """Turn SQLite's foreign keys on for every connection (PostgreSQL always checks them).

    Without it a row may point at a deleted row, whose id SQLite then reuses.
    No I/O: the engine connects later, and each new connection runs the pragma.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_foreign_keys_on)


def _sqlite_foreign_keys_on(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upgrade_on_start(app: Flask) -> None:
    """Apply pending migrations unless ``SLIPWAY_AUTO_MIGRATE=false``."""
    if not app.config.get("AUTO_MIGRATE", True):
        return
    with app.app_context():
        upgrade()
