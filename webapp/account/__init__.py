"""Every user's own account: change the password, manage API tokens."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from webapp.account import routes  # noqa: E402,F401
