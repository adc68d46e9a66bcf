"""The create form's draft: kept on the server between steps, consumed once by Create."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import VersionDraft
from webapp.models.base import utcnow

STEPS = (1, 2, 3)


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
    data = {**(draft.data or {}), **changes}
    if step is not None:
        draft.step = step
        data["reached"] = max(data.get("reached", 1), step)
    draft.data = data
    db.session.commit()


def replace(draft: VersionDraft, data: dict) -> None:
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
