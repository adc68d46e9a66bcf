"""Home page, health check and error pages."""

from flask import Blueprint

from webapp.plurals import plural

bp = Blueprint("main", __name__)
bp.add_app_template_filter(plural, "plural")

from webapp.main import routes  # noqa: E402,F401
from webapp.main.errors import register_error_pages  # noqa: E402,F401
