"""Who may do what: role checks used by views."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, redirect, request, url_for
from flask_login import current_user

from webapp.extensions import db, login_manager
from webapp.models import Role, User

# Endpoints anyone may reach without signing in.
PUBLIC_ENDPOINTS = {"auth.login", "static", "main.healthz"}


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The session's user unless deactivated or signed out everywhere since (``id.epoch``)."""
    ident, _, epoch = user_id.partition(".")
    if not ident.isdigit():
        return None
    user = db.session.get(User, int(ident))
    if user is None or not user.is_active or str(user.session_epoch or 0) != (epoch or "0"):
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
