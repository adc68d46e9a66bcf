"""Home page, health check and error pages."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from webapp.main import routes  # noqa: E402,F401
from webapp.main.errors import register_error_pages  # noqa: E402,F401
