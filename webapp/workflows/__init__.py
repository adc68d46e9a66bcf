"""Release workflows: per project, a target environment and ordered stages (admins)."""

from flask import Blueprint

bp = Blueprint("workflows", __name__, url_prefix="/workflows")

from webapp.workflows import routes, stages  # noqa: E402,F401
