"""The JSON API under /api/v1: the same rules as the pages, for CI jobs, bots and dashboards.

Kept apart from the hypermedia views: its own blueprint, its own JSON error answers,
bearer tokens (``webapp.api.tokens``) and an OpenAPI document built from its schemas.
"""

from flask import Blueprint

from webapp.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# CSRF is checked in ``webapp.api.tokens.authenticate`` for cookie requests only:
# a bearer token is not sent by a browser on its own, so it needs none.
csrf.exempt(bp)

from webapp.api import (  # noqa: E402,F401
    audit_routes,
    catalog_routes,
    docs,
    errors,
    release_routes,
    version_routes,
)
from webapp.api.tokens import authenticate  # noqa: E402

bp.before_request(authenticate)  # bearer tokens (or the session); 401 JSON, never a redirect
