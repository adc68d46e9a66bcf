"""The create form's draft: kept on the server between steps, consumed once by Create."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.boundary import MAX_ID, has_control_characters
from webapp.extensions import db
from webapp.models import VersionDraft
from webapp.models.base import utcnow

STEPS = (1, 2, 3)


class InvalidDraft(ValueError):
    """Draft data of the wrong shape; the message says which part."""


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def _optional_id(value) -> bool:
    return value is None or _is_id(value)


def _texts(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _images(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str)
        and isinstance(row, dict)
        and all(isinstance(row.get(part), str | None) for part in ("repository", "tag"))
        and isinstance(row.get("push", True), bool)
        for key, row in value.items()
    )


# What each key of a draft's data may hold; keys not listed are not read as input.
_SHAPES = {
    "name": lambda v: isinstance(v, str),
    "description": lambda v: isinstance(v, str),
    "labels": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "environment_id": _optional_id,
    "service_ids": lambda v: isinstance(v, list) and all(_is_id(x) for x in v),
    "registry_id": _optional_id,
    "chart_registry_id": _optional_id,
    "created_from_id": _optional_id,
    "reached": lambda v: v in STEPS,
    "images": _images,
    "values": _texts,
    "globals_yaml": lambda v: isinstance(v, str),
    "values_before_globals": lambda v: v is None or _texts(v),
    "globals_changed": lambda v: isinstance(v, dict),
    "chart_versions": _texts,
}


def draft_problem(data) -> str | None:
    """Why ``data`` cannot be a draft's data, or None."""
    if not isinstance(data, dict):
        return "it is not a set of fields."
    for key, fits in _SHAPES.items():
        if key in data and not fits(data[key]):
            return f"its field {key!r} holds something it cannot hold."
    for key, value in data.items():
        if _holds_control_characters(value):
            return f"its field {key!r} holds control characters (such as NUL)."
    return None


def _holds_control_characters(value) -> bool:
    # Iterative: a draft's data is shallow, but nothing stored should be able to recurse deep.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and has_control_characters(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def active_draft(user_id: int, project_id: int) -> VersionDraft | None:
    """The user's unconsumed draft for the project, if any."""
    return db.session.scalar(
        select(VersionDraft).where(
            VersionDraft.user_id == user_id,
            VersionDraft.project_id == project_id,
            VersionDraft.consumed_at.is_(None),
        )
    )


def draft_by_token(token: str | None) -> VersionDraft | None:
    if not token:
        return None
    return db.session.scalar(select(VersionDraft).where(VersionDraft.token == token))


def open_draft(user_id: int, project_id: int) -> VersionDraft:
    """The active draft, created when there is none (commits)."""
    draft = active_draft(user_id, project_id)
    if draft is not None:
        return draft
    draft = VersionDraft(user_id=user_id, project_id=project_id, step=1, data={})
    db.session.add(draft)
    try:
        db.session.commit()
    except IntegrityError:  # a parallel request made it first
        db.session.rollback()
        draft = active_draft(user_id, project_id)
        assert draft is not None
    return draft


def save(draft: VersionDraft, changes: dict, step: int | None = None) -> None:
    """Merge ``changes`` into the draft's data (and move it to ``step``); commits."""
    problem = draft_problem(draft.data or {})
    if problem:
        raise InvalidDraft(problem)
    data = {**(draft.data or {}), **changes}
    if step is not None:
        data["reached"] = max(data.get("reached", 1), step)
    problem = draft_problem(data)
    if problem:
        db.session.rollback()
        raise InvalidDraft(problem)
    if step is not None:
        draft.step = step
    draft.data = data
    db.session.commit()


def replace(draft: VersionDraft, data: dict) -> None:
    problem = draft_problem(data)
    if problem:
        raise InvalidDraft(problem)
    draft.data = data
    draft.step = 1
    db.session.commit()


def discard(draft: VersionDraft) -> None:
    db.session.delete(draft)
    db.session.commit()


def claim(draft: VersionDraft) -> bool:
    """Mark the draft consumed unless a parallel request did; does not commit.

    The conditional UPDATE makes Create idempotent: of two clicks only one
    claims the draft, the other finds it consumed and follows to its version.
    """
    result = db.session.execute(
        update(VersionDraft)
        .where(VersionDraft.id == draft.id, VersionDraft.consumed_at.is_(None))
        .values(consumed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
