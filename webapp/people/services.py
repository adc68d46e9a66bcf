"""Rules about people: creating users, roles, deactivation and passwords; each audited."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.audit.services import record
from webapp.extensions import db
from webapp.models import ApiToken, Role, User
from webapp.models.base import utcnow
from webapp.refusals import Refused

MIN_PASSWORD = 8


class PeopleRefused(Refused):
    """A change to a user the rules refuse."""


def generated_password() -> str:
    """A password to hand over once: about 100 bits, easy to copy."""
    return secrets.token_urlsafe(16)


def username_taken(username: str) -> bool:
    return db.session.scalar(select(User.id).where(User.username == username)) is not None


def create_user(username: str, role: Role, password: str | None) -> tuple[User, str]:
    """A new active user; without ``password`` one is generated. Returns it to show once."""
    if username_taken(username):
        raise PeopleRefused(f"User {username} exists.")
    password = password or generated_password()
    user = User(username=username, role=role)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:  # created by a parallel request since the check
        db.session.rollback()
        raise PeopleRefused(f"User {username} exists.") from exc
    record("create", user, detail=f"role {role.value}")
    db.session.commit()
    return user, password


def change_role(user: User, role: Role, by: User) -> None:
    if user.id == by.id and role is not Role.ADMIN:
        raise PeopleRefused("You cannot take your own admin role; ask another admin.")
    if user.role is role:
        return
    before = user.role
    user.role = role
    record("change_role", user, detail=f"{before.value} → {role.value}")
    db.session.commit()


def revoke_tokens(user: User) -> int:
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def deactivate(user: User, by: User) -> None:
    """The user can no longer sign in: sessions end and API tokens are revoked."""
    if user.id == by.id:
        raise PeopleRefused("You cannot deactivate yourself.")
    if not user.active:
        return
    user.active = False
    user.end_sessions()
    revoked = revoke_tokens(user)
    record("deactivate", user, detail=f"{revoked} token(s) revoked")
    db.session.commit()


def reactivate(user: User) -> None:
    if user.active:
        return
    user.active = True
    record("reactivate", user)
    db.session.commit()


def reset_password(user: User, password: str | None) -> str:
    """A new password (given, or generated to show once); the user's sessions end."""
    generated = not password
    password = password or generated_password()
    user.set_password(password)
    user.end_sessions()
    record("reset_password", user, detail="generated, shown once" if generated else "set by admin")
    db.session.commit()
    return password


def change_own_password(user: User, current: str, new: str) -> None:
    """The user's own change: the current password first; every other session ends."""
    if not user.check_password(current):
        raise PeopleRefused("The current password is wrong.")
    user.set_password(new)
    user.end_sessions()
    record("change_password", user, user=user)
    db.session.commit()
