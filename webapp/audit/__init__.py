"""The audit trail and its admin page."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from webapp.audit import routes  # noqa: E402,F401
