"""API tests: tokens for the test users, and every API answer checked against the document."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import request, request_finished
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import select

from webapp.api.spec import flask_rule_to_path, openapi_document
from webapp.extensions import db
from webapp.models import ApiToken, Scope, User

ALL_SCOPES = [scope.value for scope in Scope]


def issue_token(
    app, username: str, scopes=ALL_SCOPES, expires_at: datetime | None = None, name="ci"
) -> str:
    """A token of ``username``, straight in the database (the pages are tested elsewhere)."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        token, secret = ApiToken.issue(user, name, list(scopes), expires_at)
        db.session.add(token)
        db.session.commit()
        return secret


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


class ResponseChecker:
    """Validates each API answer against the OpenAPI document: its code, type and body."""

    def __init__(self, app):
        with app.test_request_context():
            self.document = openapi_document()
        validate_spec(self.document)
        self.checked: list[str] = []
        self.problems: list[str] = []

    def check(self, sender, response, **extra) -> None:
        rule = request.url_rule
        if rule is None or not rule.rule.startswith("/api/v1/"):
            return
        path = flask_rule_to_path(rule.rule[len("/api/v1") :])
        operation = self.document["paths"].get(path, {}).get(request.method.lower())
        where = f"{request.method} {request.path} -> {response.status_code}"
        if operation is None:
            if path not in ("/api/v1/openapi.json", "/api/v1/docs"):
                self.problems.append(f"{where}: not in the document")
            return
        self.checked.append(where)
        documented = operation["responses"].get(str(response.status_code))
        if documented is None:
            self.problems.append(f"{where}: status not documented")
            return
        content = documented.get("content")
        if not content:
            if response.get_data():
                self.problems.append(f"{where}: a body where the document says none")
            return
        if response.mimetype not in content:
            self.problems.append(f"{where}: {response.mimetype} not documented")
            return
        if response.mimetype != "application/json":
            return
        schema = {
            **content["application/json"]["schema"],
            "components": self.document["components"],
        }
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        for error in validator.iter_errors(response.get_json()):
            self.problems.append(f"{where}: {error.json_path}: {error.message}")


@pytest.fixture(autouse=True)
def openapi_checked(app):
    """Every API test: each answer (of any app the test builds) matches the document."""
    checker = ResponseChecker(app)
    request_finished.connect(checker.check)
    yield checker
    request_finished.disconnect(checker.check)
    assert checker.problems == []
