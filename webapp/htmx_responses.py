"""The one place that decides how to answer an htmx request."""

from __future__ import annotations

from flask import make_response, render_template

from webapp.extensions import htmx


def is_htmx(region: str | None = None) -> bool:
    """An htmx request; with ``region``, one that asks for the element with that id."""
    return bool(htmx) and (region is None or htmx.target == region)


def fragment(template: str, status: int = 200, **context):
    """Render a partial on its own; such answers vary by ``HX-Request``."""
    response = make_response(render_template(template, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


def unchanged():
    """An empty 204: htmx keeps what it shows (and a poll goes on)."""
    response = make_response("", 204)
    response.headers["Vary"] = "HX-Request"
    return response
