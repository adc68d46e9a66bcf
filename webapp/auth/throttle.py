"""Sign-in throttling: failed attempts per username and per address, kept in Redis.

After the free failures, each further failure locks that username (or address)
for 2, 4, 8... seconds, up to a maximum; while locked, no password is checked,
not even the right one. The counters expire once the lock window has passed.
"""

from __future__ import annotations

import math
import time

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

_PREFIX = "slipway:sign-in"


def _redis() -> Redis:
    return Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=2)


def _keys(username: str, address: str | None) -> list[tuple[str, int]]:
    config = current_app.config
    keys = [(f"{_PREFIX}:user:{username.strip().lower()}", config["SIGN_IN_FREE_FAILURES"])]
    if address:
        keys.append((f"{_PREFIX}:addr:{address}", config["SIGN_IN_ADDRESS_FREE_FAILURES"]))
    return keys


def seconds_locked(username: str, address: str | None) -> int:
    """How long sign-in for this username or from this address must wait (0: it may try)."""
    try:
        connection = _redis()
        until = [connection.hget(key, "until") for key, _ in _keys(username, address)]
    except RedisError:
        current_app.logger.warning("sign-in throttling is off: Redis is unreachable")
        return 0
    wait = max((float(value) for value in until if value), default=0.0) - time.time()
    return math.ceil(wait) if wait > 0 else 0


def record_failure(username: str, address: str | None) -> None:
    """Count a failed sign-in; past the free failures, lock for an exponential delay."""
    cap = current_app.config["SIGN_IN_MAX_LOCK_SECONDS"]
    try:
        connection = _redis()
        for key, free in _keys(username, address):
            failures = connection.hincrby(key, "failures", 1)
            if failures > free:
                delay = min(cap, 2 ** min(failures - free, 20))
                connection.hset(key, "until", time.time() + delay)
            connection.expire(key, cap * 2)
    except RedisError:
        current_app.logger.warning("sign-in throttling is off: Redis is unreachable")


def clear_failures(username: str) -> None:
    """A successful sign-in forgets the username's failures (not the address's)."""
    try:
        _redis().delete(_keys(username, None)[0][0])
    except RedisError:
        pass
