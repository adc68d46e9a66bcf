"""People, for admins: list, create, change role, deactivate, reset a password."""

from flask import Blueprint

bp = Blueprint("people", __name__, url_prefix="/people")

from webapp.people import routes  # noqa: E402,F401
