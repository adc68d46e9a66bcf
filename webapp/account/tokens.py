"""Issuing and revoking a user's personal access tokens; each audited."""

from __future__ import annotations

from datetime import timedelta

from webapp.audit.services import record
from webapp.extensions import db
from webapp.models import ApiToken, User
from webapp.models.base import utcnow


def issue(user: User, name: str, scopes: list[str], days: int) -> tuple[ApiToken, str]:
    """A new token of ``user``; the secret is returned to show once, only its hash is kept."""
    expires_at = utcnow() + timedelta(days=days) if days else None
    token, secret = ApiToken.issue(user, name, scopes, expires_at)
    db.session.add(token)
    db.session.flush()
    expiry = f"expires {expires_at:%Y-%m-%d}" if expires_at else "never expires"
    record("create_token", token, detail=f"scopes {', '.join(token.scopes)}; {expiry}")
    db.session.commit()
    return token, secret


def revoke(token: ApiToken) -> None:
    token.revoke()
    record("revoke_token", token)
    db.session.commit()
