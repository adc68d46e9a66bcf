"""Configuration: defaults, then environment variables, then test config."""

from __future__ import annotations

import os
from datetime import timedelta

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"

ENV_PREFIX = "SLIPWAY_"


class DefaultConfig:
    """Values used when nothing else sets them."""

    SECRET_KEY = DEFAULT_SECRET_KEY
    # Key for secrets at rest; derived from SECRET_KEY when unset.
    ENCRYPTION_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # set from instance path in create_app
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = "redis://127.0.0.1:6379/0"
    RQ_QUEUES = ["default"]
    JOB_TIMEOUT = 3600
    REAPER_INTERVAL = 10.0
    # Seconds between the dispatcher's rounds: jobs Redis refused or not due yet.
    DISPATCH_INTERVAL = 1.0
    # A running job writes its heartbeat this often; one silent for the grace is lost.
    JOB_HEARTBEAT_INTERVAL = 5.0
    JOB_HEARTBEAT_GRACE = 120
    # A job handed to Redis that Redis does not know after this many seconds is lost.
    JOB_SEND_GRACE = 5
    # SQLite: milliseconds a writer waits for another writer before "database is locked".
    SQLITE_BUSY_TIMEOUT_MS = 30000
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None
    # A session ends after this long even if the cookie is kept (Flask checks the signature's age).
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # ...and after this many seconds from sign-in however busy it is.
    SESSION_ABSOLUTE_LIFETIME = 24 * 3600
    # Sign-in throttling: failures allowed per username / per address before each
    # further attempt waits 2, 4, 8... seconds, up to SIGN_IN_MAX_LOCK_SECONDS.
    SIGN_IN_FREE_FAILURES = 5
    SIGN_IN_ADDRESS_FREE_FAILURES = 20
    SIGN_IN_MAX_LOCK_SECONDS = 900
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    MAX_YAML_BYTES = 512 * 1024
    # Text parts of a multipart form (Flask's default is 500 kB, below MAX_YAML_BYTES): a YAML
    # field over its limit then gets its message at the field, not a 413 page.
    MAX_FORM_MEMORY_SIZE = 4 * 1024 * 1024
    MAX_CHART_BYTES = 10 * 1024 * 1024
    PAGE_SIZE = 25
    # JSON API calls per token (or signed-in user) per minute.
    API_RATE_LIMIT = 600
    # Hosts source images may come from besides the catalog's registries (comma-separated).
    SOURCE_REGISTRIES = ""


def from_environment(environ: os._Environ | dict) -> dict:
    """Settings found in the environment: ``SLIPWAY_*`` and ``DATABASE_URL``."""
    found: dict = {}
    if environ.get("DATABASE_URL"):
        found["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(environ["DATABASE_URL"])
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :]
            if name == "DATABASE_URL":
                found["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(value)
            else:
                found[name] = _parse(value)
    return found


def _normalise_db_url(url: str) -> str:
    # Heroku-style URLs say postgres://, which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def _parse(value: str):
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(value)
    except ValueError:
        return value
