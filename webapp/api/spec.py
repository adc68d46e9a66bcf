"""API operations declared once: the route, its scope, its schemas; the OpenAPI 3.1 document.

Each view is declared with :func:`operation`, which registers the Flask route,
checks the token's scope, parses the query and JSON body with the pydantic
models and serialises the model the view returns. The same declarations build
the OpenAPI document, with the schemas pydantic generates (JSON Schema 2020-12,
which OpenAPI 3.1 uses as is).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Response, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from webapp.api import bp
from webapp.api.errors import ApiProblem, validation_problem
from webapp.api.idempotency import idempotent as keep_answers
from webapp.api.schemas import MAX_ID, Problem
from webapp.api.tokens import require_scope
from webapp.models import Scope

ERROR_TEXT = {
    400: "The request is not a JSON object or lacks the CSRF token of a cookie session.",
    401: "No token, or an unknown, revoked or expired one.",
    403: "The token's scopes or its user's role do not allow this.",
    404: "No such object.",
    409: "The rules refuse this now (the message says why).",
    422: "A field is invalid (``field`` names it).",
    429: "Too many requests this minute; see Retry-After.",
}


@dataclass
class Accepted:
    """A 202 answer: the resource now, and where to poll it."""

    body: BaseModel
    location: str


@dataclass
class Operation:
    method: str
    rule: str
    endpoint: str
    summary: str
    tag: str
    scope: Scope | None
    status: int
    response: type[BaseModel] | None
    media_type: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    errors: tuple[int, ...]
    description: str = ""
    idempotent: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def path(self) -> str:
        return flask_rule_to_path(self.rule)

    @property
    def path_parameters(self) -> list[tuple[str, str]]:
        return [
            (name, "integer" if converter == "int" else "string")
            for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", self.rule)
        ]


OPERATIONS: list[Operation] = []


def flask_rule_to_path(rule: str) -> str:
    """``/api/v1/versions/<int:version_id>`` -> ``/api/v1/versions/{version_id}``."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", bp.url_prefix + rule)


def operation(
    rule: str,
    method: str = "GET",
    *,
    summary: str,
    tag: str,
    scope: Scope | None = Scope.READ,
    response: type[BaseModel] | None = None,
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    media_type: str = "application/json",
    idempotent: bool = False,
) -> Callable:
    """Declare an API view: route, scope, schemas; see the module docstring."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(**kwargs):
            if scope is not None:
                require_scope(scope)
            if query is not None:
                kwargs["query"] = _parse(query, request.args.to_dict())
            if body is not None:
                data = request.get_json(silent=True)
                if not isinstance(data, dict):
                    raise ApiProblem(400, "Send a JSON object with Content-Type application/json.")
                kwargs["body"] = _parse(body, data)
            return _answer(view(**kwargs), status)

        op = Operation(
            method=method,
            rule=rule,
            endpoint=view.__name__,
            summary=summary,
            tag=tag,
            scope=scope,
            status=status,
            response=response,
            media_type=media_type,
            body=body,
            query=query,
            errors=errors,
            description=(view.__doc__ or "").strip(),
            idempotent=idempotent,
        )
        OPERATIONS.append(op)
        if idempotent:
            wrapped = keep_answers(wrapped)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        return wrapped

    return decorator


def _parse(model: type[BaseModel], data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _Invalid(validation_problem(exc)) from exc


class _Invalid(Exception):
    def __init__(self, response):
        self.response = response


@bp.errorhandler(_Invalid)
def _invalid(exc: _Invalid):
    return exc.response


@bp.url_value_preprocessor
def _ids_in_range(endpoint: str | None, values: dict | None) -> None:
    """An id in the path no database column can hold names nothing: 404, not an overflow."""
    for value in (values or {}).values():
        if isinstance(value, int) and value > MAX_ID:
            raise ApiProblem(404, "No such object.")


def _answer(result, status: int):
    if isinstance(result, Response):
        return result
    if isinstance(result, Accepted):
        response = jsonify(result.body.model_dump(mode="json"))
        response.status_code = 202
        response.headers["Location"] = result.location
        return response
    if result is None:
        return Response(status=204)
    response = jsonify(result.model_dump(mode="json"))
    response.status_code = status
    return response


# --- the document ------------------------------------------------------------


@functools.cache
def openapi_document() -> dict:
    """The OpenAPI 3.1 document of every declared operation (built once: it is the code's)."""
    models: list[tuple[type[BaseModel], str]] = [(Problem, "serialization")]
    for op in OPERATIONS:
        if op.response is not None:
            models.append((op.response, "serialization"))
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.query is not None:
            models.append((op.query, "validation"))
    keys, top = models_json_schema(
        list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}"
    )
    schemas = top.get("$defs", {})
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _path_item(op, keys, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Slipway API",
            "version": "1",
            "description": (
                "Release management for CI jobs, bots and dashboards. Authenticate with a "
                "personal access token (Account → API tokens): `Authorization: Bearer <token>`. "
                "Long work (creating a version, running a release) answers 202 with the "
                "resource's URL in `Location`: poll it until its status is final."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _ref(keys: dict, model: type[BaseModel], mode: str) -> dict:
    return keys[(model, mode)]


def _path_item(op: Operation, keys: dict, schemas: dict) -> dict:
    item: dict = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        item["description"] = op.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
        for name, kind in op.path_parameters
    ]
    if op.query is not None:
        name = _ref(keys, op.query, "validation")["$ref"].rsplit("/", 1)[-1]
        query_schema = schemas.pop(name)
        required = set(query_schema.get("required", []))
        for prop, schema in query_schema.get("properties", {}).items():
            parameters.append(
                {"name": prop, "in": "query", "required": prop in required, "schema": schema}
            )
    if op.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Send the same key again to get the first answer, not a second "
                "object.",
                "schema": {"type": "string", "maxLength": 128},
            }
        )
    if parameters:
        item["parameters"] = parameters
    if op.body is not None:
        item["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(keys, op.body, "validation")}},
        }
    responses: dict = {}
    if op.response is None and op.media_type == "application/json":
        responses[str(op.status)] = {"description": "Done."}
    elif op.media_type == "application/json":
        success = {
            "description": "Accepted: poll the Location." if op.status == 202 else "OK.",
            "content": {"application/json": {"schema": _ref(keys, op.response, "serialization")}},
        }
        if op.status == 202:
            success["headers"] = {
                "Location": {"description": "Where to poll.", "schema": {"type": "string"}}
            }
        responses[str(op.status)] = success
    else:
        responses[str(op.status)] = {
            "description": "The file.",
            "content": {op.media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    codes = set(op.errors) | {429}
    if op.endpoint not in ("openapi_document", "docs"):
        codes.add(401)
    if op.scope is not None:
        codes.add(403)
    if op.path_parameters:
        codes.add(404)
    if op.body is not None or op.query is not None:
        codes |= {400, 422}
    if op.method != "GET":
        codes.add(400)  # a cookie session without its CSRF token
    problem_ref = _ref(keys, Problem, "serialization")
    for code in sorted(codes):
        responses[str(code)] = {
            "description": ERROR_TEXT[code],
            "content": {"application/json": {"schema": problem_ref}},
        }
    item["responses"] = responses
    if op.endpoint in ("openapi_document", "docs"):
        item["security"] = []
    return item
