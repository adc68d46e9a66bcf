"""Who may do what: role checks used by views."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from flask import abort, current_app, redirect, request, session, url_for
from flask_login import current_user

from webapp.extensions import db, login_manager
from webapp.models import Role, User

# The session key holding when the user signed in (seconds since the epoch).
SIGNED_IN_AT = "signed_in_at"

# Endpoints anyone may reach without signing in.
PUBLIC_ENDPOINTS = {"auth.login", "static", "main.healthz"}


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of a session, if the session is still current (see User.end_sessions)."""
    number, sep, version = user_id.partition(":")
    if not sep or not number.isdigit() or not version.isdigit():
        return None  # a cookie from before session counters: sign in again
    signed_in_at = session.get(SIGNED_IN_AT)
    if not isinstance(signed_in_at, int | float):
        return None
    if time.time() - signed_in_at > current_app.config["SESSION_ABSOLUTE_LIFETIME"]:
        return None  # kept alive by use, but too old: sign in again
    user = db.session.get(User, int(number))
    if user is None or not user.is_active or (user.session_version or 0) != int(version):
        return None
    return user


def require_sign_in():
    """App-wide guard: every page but the public ones needs a signed-in user."""
    if request.blueprint == "api":
        return None  # the API authenticates its own requests (webapp.api.tokens): 401 JSON
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def roles_required(*roles: Role) -> Callable:
    """Let admins and the given roles through; everyone else gets 403."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


admin_required = roles_required(Role.ADMIN)
