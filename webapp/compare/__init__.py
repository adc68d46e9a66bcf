"""Compare: two versions side by side, or a version against what runs in an environment."""

from flask import Blueprint

bp = Blueprint("compare", __name__, url_prefix="/compare")

from webapp.compare import routes  # noqa: E402,F401
