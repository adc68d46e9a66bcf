"""Background job runs: the queue front door, the status widget, the reaper."""

from flask import Blueprint

bp = Blueprint("jobruns", __name__, url_prefix="/jobs")

from webapp.jobruns import routes  # noqa: E402,F401
