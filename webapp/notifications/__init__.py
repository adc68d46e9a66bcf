"""Notifications: per-project webhook targets, the events sent to them, the delivery log."""

from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

from webapp.notifications import outbox, routes  # noqa: E402,F401
