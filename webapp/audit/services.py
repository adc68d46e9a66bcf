"""Writing audit events."""

from __future__ import annotations

import re

from flask import g, has_request_context, request
from flask_login import current_user

from webapp.extensions import db
from webapp.models import AuditEvent, User

_UNSET = object()


def record(action: str, obj=None, *, detail: str | None = None, user=_UNSET) -> AuditEvent:
    """Add an audit event to the session; the caller commits it with the change."""
    if user is _UNSET:
        user = current_user if has_request_context() and current_user.is_authenticated else None
    token = g.get("api_token") if has_request_context() else None
    if token is not None:  # the JSON API: say which of the user's tokens did it
        detail = f"{detail} (API token {token.name})" if detail else f"API token {token.name}"
    event = AuditEvent(
        action=action,
        user_id=user.id if isinstance(user, User) else None,
        username=getattr(user, "username", None),
        object_type=_object_type(obj),
        object_id=getattr(obj, "id", None),
        object_name=_object_name(obj),
        detail=detail,
        remote_addr=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event


def _object_type(obj) -> str | None:
    if obj is None:
        return None
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(obj).__name__).lower()


def _object_name(obj) -> str | None:
    for attr in ("username", "name", "key", "title"):
        value = getattr(obj, attr, None)
        if value:
            return str(value)
    return None
