"""Configuration: defaults, then environment variables, then test config."""

from __future__ import annotations

import os

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
    # A running job whose RQ heartbeat is older than this is considered lost.
    JOB_HEARTBEAT_GRACE = 120
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    MAX_YAML_BYTES = 512 * 1024
    # Text parts of a multipart form (Flask's default is 500 kB, below MAX_YAML_BYTES): a YAML
    # field over its limit then gets its message at the field, not a 413 page.
    MAX_FORM_MEMORY_SIZE = 4 * 1024 * 1024
    MAX_CHART_BYTES = 10 * 1024 * 1024
    PAGE_SIZE = 25


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
