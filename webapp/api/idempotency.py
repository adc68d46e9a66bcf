"""Idempotency-Key: a retried POST (a CI job's network blip) gets the first answer again."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Response, jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.api.errors import ApiProblem
from webapp.extensions import db
from webapp.models import IdempotentAnswer

MAX_KEY = 128


def idempotent(view: Callable) -> Callable:
    """Keep the answer of a successful POST under (user, key); replay it for the same key."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key:
            return view(*args, **kwargs)
        if len(key) > MAX_KEY:
            raise ApiProblem(422, f"An Idempotency-Key is at most {MAX_KEY} characters.", None)
        what = f"{request.method} {request.path}"
        kept = _kept(key)
        if kept is not None:
            if kept.request != what:
                raise ApiProblem(
                    422, f"This Idempotency-Key was used for {kept.request}.", "Idempotency-Key"
                )
            return _replay(kept)
        response = view(*args, **kwargs)
        if isinstance(response, Response) and 200 <= response.status_code < 300:
            db.session.add(
                IdempotentAnswer(
                    user_id=current_user.id,
                    key=key,
                    request=what,
                    status=response.status_code,
                    body=response.get_json(),
                    location=response.headers.get("Location"),
                )
            )
            try:
                db.session.commit()
            except IntegrityError:  # a parallel request with the same key answered first
                db.session.rollback()
        return response

    return wrapped


def _kept(key: str) -> IdempotentAnswer | None:
    return db.session.scalar(
        select(IdempotentAnswer).where(
            IdempotentAnswer.user_id == current_user.id, IdempotentAnswer.key == key
        )
    )


def _replay(kept: IdempotentAnswer) -> Response:
    response = jsonify(kept.body)
    response.status_code = kept.status
    if kept.location:
        response.headers["Location"] = kept.location
    response.headers["Idempotent-Replayed"] = "true"
    return response
