"""The OpenAPI document and its browsable page (Swagger UI, vendored under static/vendor)."""

from __future__ import annotations

from flask import jsonify, render_template

from webapp.api import bp
from webapp.api.spec import openapi_document

SWAGGER_UI = "5.35.0"


@bp.route("/openapi.json", endpoint="openapi_document")
def openapi_document_view():
    return jsonify(openapi_document())


@bp.route("/docs")
def docs():
    return render_template("api/docs.html", swagger_ui=SWAGGER_UI)
