"""Sign-in, sign-out and the access rules."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from webapp.auth import routes  # noqa: E402,F401
