"""Who calls the API: a bearer token acting as its user, or a signed-in browser session.

A token has scopes on top of its user's role: every role rule still applies, the
scope can only narrow what the user may do. Requests are rate limited per token.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import current_app, g, request
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import select

from webapp.api.errors import ApiProblem, problem
from webapp.extensions import csrf, db
from webapp.jobruns.queue import redis_connection
from webapp.models import ApiToken, Role, Scope
from webapp.models.base import utcnow
from webapp.models.tokens import hash_token

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Writing last_used_at on every call would make each read a write; once a minute is enough.
TOUCH_EVERY = timedelta(seconds=60)
PUBLIC_ENDPOINTS = {"api.openapi_document", "api.docs"}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="slipway"'}


def authenticate():
    """Run before every API request (the blueprint's hook); a response refuses it."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return problem(
                401, "Send the token as: Authorization: Bearer <token>.", None, CHALLENGE
            )
        token = db.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(secret.strip()))
        )
        if token is None or not token.usable:
            return problem(401, "The token is unknown, revoked or expired.", None, CHALLENGE)
        g.api_token = token
        g._login_user = token.user  # Flask-Login's current user for this request only
        _touch(token)
        ident = f"token:{token.id}"
    elif request.endpoint in PUBLIC_ENDPOINTS:
        return None
    elif current_user.is_authenticated:
        # A browser session (the docs page): cookies need the CSRF token to write.
        g.api_token = None
        if request.method not in SAFE_METHODS:
            csrf.protect()
        ident = f"user:{current_user.id}"
    else:
        return problem(401, "Authenticate with Authorization: Bearer <token>.", None, CHALLENGE)
    return _rate_limited(ident)


def _touch(token: ApiToken) -> None:
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
        db.session.commit()


def _rate_limited(ident: str):
    """A fixed one-minute window counted in Redis; ``API_RATE_LIMIT`` calls per window."""
    limit = current_app.config["API_RATE_LIMIT"]
    window = int(time.time() // 60)
    key = f"slipway:api-rate:{ident}:{window}"
    try:
        redis = redis_connection()
        count = redis.incr(key)
        if count == 1:
            redis.expire(key, 120)
    except RedisError:
        current_app.logger.warning("rate limit not checked: Redis is unreachable")
        return None
    if count > limit:
        retry_after = str(60 - int(time.time()) % 60)
        return problem(
            429,
            f"More than {limit} requests this minute; wait and try again.",
            None,
            {"Retry-After": retry_after},
        )
    return None


def require_scope(scope: Scope) -> None:
    token = g.get("api_token")
    if token is not None and not token.allows(scope):
        raise ApiProblem(403, f"This token lacks the scope {scope.value}.")


def require_role(*roles: Role) -> None:
    if not current_user.has_role(*roles):
        names = " or ".join(role.label.lower() for role in roles)
        raise ApiProblem(403, f"Only admins and {names}s may do this.")
