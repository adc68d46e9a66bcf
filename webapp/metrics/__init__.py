"""Delivery metrics per project and environment: numbers, SVG charts and tables."""

from flask import Blueprint

bp = Blueprint("metrics", __name__, url_prefix="/metrics")

from webapp.metrics import routes  # noqa: E402,F401
