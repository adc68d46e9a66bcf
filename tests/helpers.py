"""What many tests share: the test users, running queued jobs, waiting with a deadline."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

from redis import Redis
from rq import Queue, SimpleWorker
from werkzeug.security import generate_password_hash

from webapp.models import Role

T = TypeVar("T")

PASSWORD = "correct-horse-battery"
# A cheap hash keeps sign-in fast in tests; production uses werkzeug's default (scrypt).
PASSWORD_HASH = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
ROLES = {
    "admin": Role.ADMIN,
    "release": Role.RELEASE_ENGINEER,
    "tester": Role.TEST_ENGINEER,
    "viewer": Role.VIEWER,
}


def run_queued_jobs(app) -> None:
    """Send the due outbox rows, then run every job queued so far (SimpleWorker, burst)."""
    from webapp.jobruns.queue import send_pending

    with app.app_context():
        send_pending()
        connection = Redis.from_url(app.config["REDIS_URL"])
        SimpleWorker([Queue("default", connection=connection)], connection=connection).work(
            burst=True
        )


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)
