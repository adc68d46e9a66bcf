"""What every area's views share: 404 guards, form pages with 422, name checks."""

from __future__ import annotations

from flask import abort, render_template
from sqlalchemy import select

from webapp.extensions import db


def get_or_404(model, object_id: int, what: str):
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404, f"No such {what}.")
    return obj


def render_form(template: str, form, **context):
    """A form page; 422 when the submitted form has errors."""
    status = 422 if form.errors else 200
    return render_template(template, form=form, **context), status


def name_taken(model, column, value, *, exclude_id: int | None = None, **scope) -> bool:
    query = select(model.id).where(column == value)
    for key, scoped in scope.items():
        query = query.where(getattr(model, key) == scoped)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    return db.session.scalar(query.limit(1)) is not None


def users_message(what: str, users: list[str]) -> str:
    """``Cannot delete X: used by a, b and 3 more.``"""
    shown = ", ".join(users[:5])
    more = f" and {len(users) - 5} more" if len(users) > 5 else ""
    return f"Cannot delete {what}: it is used by {shown}{more}. Remove those first."
