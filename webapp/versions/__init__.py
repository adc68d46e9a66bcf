"""Versions: the three-step form, the copy job's progress, the version pages."""

from flask import Blueprint

bp = Blueprint("versions", __name__, url_prefix="/versions")

from webapp.versions import helm_routes, routes, tag_lookup, wizard  # noqa: E402,F401
