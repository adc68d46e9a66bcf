"""Personal access tokens for the JSON API, and the answers kept for Idempotency-Key."""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.models.people import User

TOKEN_PREFIX = "slp_"


class Scope(enum.StrEnum):
    READ = "read"
    VERSIONS_WRITE = "versions:write"
    RELEASES_WRITE = "releases:write"
    APPROVE = "approve"

    @property
    def label(self) -> str:
        return {
            Scope.READ: "read everything the user may read",
            Scope.VERSIONS_WRITE: "create, retry and delete versions",
            Scope.RELEASES_WRITE: "start, cancel, retry and roll back releases",
            Scope.APPROVE: "approve and reject releases",
        }[self]


def hash_token(secret: str) -> str:
    """Tokens are long random strings: a plain SHA-256 is enough to keep them unreadable."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(db.Model):
    """A token acts as its user, limited to its scopes; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in lists so a person can tell tokens apart.
    hint: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()

    @classmethod
    def issue(
        cls, user: User, name: str, scopes: list[str], expires_at: datetime | None
    ) -> tuple[ApiToken, str]:
        """A new token row and its secret; the secret is shown once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls(
            user=user,
            name=name,
            token_hash=hash_token(secret),
            hint=secret[: len(TOKEN_PREFIX) + 6],
            scopes=[Scope(scope).value for scope in scopes],
            expires_at=expires_at,
        )
        return token, secret

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and not self.expired and self.user.is_active

    def allows(self, scope: Scope) -> bool:
        return scope.value in (self.scopes or [])

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = utcnow()


class IdempotentAnswer(db.Model):
    """What a POST with an Idempotency-Key answered, so a retried request gets the same."""

    __tablename__ = "api_idempotent_answers"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    # method + path: the same key sent to another endpoint is a client error.
    request: Mapped[str] = mapped_column(String(255))
    status: Mapped[int]
    body: Mapped[dict] = mapped_column(JSON)
    location: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
