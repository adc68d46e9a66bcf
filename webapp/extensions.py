"""Flask extensions, created unbound and initialised in the factory."""

import sqlite3

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()


@event.listens_for(Engine, "connect")
def _sqlite_for_concurrent_users(dbapi_connection, connection_record) -> None:
    """SQLite: WAL, so readers never block the writer nor the writer readers.

    The busy timeout (how long a writer waits for another) is the driver's ``timeout``,
    set from ``SQLITE_BUSY_TIMEOUT_MS`` in the factory. PostgreSQL needs neither.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
