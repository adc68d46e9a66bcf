"""API errors and the ``Status`` objects the real API server answers with."""

from __future__ import annotations


class ApiError(Exception):
    """An error the server answers as a ``kind: Status`` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        """The ``Status`` object for this error."""
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A ``v1.Status`` shaped like the real API server's."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    if code < 400:
        body.pop("message")
        body.pop("reason")
    return body


def _details(name: str, group: str, plural: str) -> dict:
    details = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return details


def qualified(group: str, plural: str) -> str:
    """``deployments.apps`` / ``pods``, the way error messages name a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(group, plural)} "{name}" not found',
        _details(name, group, plural),
    )


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(group, plural)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": the object '
        "has been modified; please apply your changes to the latest version and try again",
        _details(name, group, plural),
    )


def invalid(group: str, plural: str, kind: str, name: str, message: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {message}',
        {**_details(name, group, plural), "kind": kind},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")
