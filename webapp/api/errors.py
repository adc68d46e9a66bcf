"""Every API error is JSON: ``{"error": message, "field": name or null}`` with a 4xx code."""

from __future__ import annotations

from flask import jsonify
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from webapp.api import bp
from webapp.extensions import db
from webapp.refusals import Refused


class ApiProblem(Exception):
    """Raised by API views: answered as a JSON problem with ``status``."""

    def __init__(self, status: int, error: str, field: str | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field


def problem(status: int, error: str, field: str | None = None, headers: dict | None = None):
    response = jsonify({"error": error, "field": field})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def validation_problem(exc: ValidationError):
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return problem(422, first["msg"], field)


@bp.errorhandler(ApiProblem)
def api_problem(exc: ApiProblem):
    db.session.rollback()
    return problem(exc.status, exc.error, exc.field)


@bp.errorhandler(ValidationError)
def invalid(exc: ValidationError):
    db.session.rollback()
    return validation_problem(exc)


@bp.errorhandler(Refused)
def refused(exc: Refused):
    db.session.rollback()
    return problem(409, str(exc))


@bp.errorhandler(CSRFError)
def csrf_missing(exc: CSRFError):
    return problem(400, "A cookie-signed request needs the CSRF token; CI should use a token.")


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return problem(exc.code or 500, exc.description or exc.name)
