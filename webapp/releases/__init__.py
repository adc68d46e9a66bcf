"""Releases: runs of a workflow with a version, their live timeline and approvals."""

from flask import Blueprint

bp = Blueprint("releases", __name__, url_prefix="/releases")

from webapp.releases import actions, display, hooks, routes  # noqa: E402,F401
