"""Schema upgrades on start; SQLite files private to their owner; the same foreign-key
rules on SQLite as on PostgreSQL."""

import os
import sqlite3
import stat

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event
from sqlalchemy.engine import Engine

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


def _private_sqlite_file(dbapi_connection, connection_record) -> None:
    """Make a SQLite database file readable by its owner only."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    for _seq, name, path in dbapi_connection.execute("PRAGMA database_list").fetchall():
        if name == "main" and path:
            # SQLite gives its -wal and -journal files the database file's mode.
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def protect_sqlite_files() -> None:
    """On every new SQLite connection, keep the file at mode 0600 (it holds password hashes)."""
    if not event.contains(Engine, "connect", _private_sqlite_file):
        event.listen(Engine, "connect", _private_sqlite_file)
