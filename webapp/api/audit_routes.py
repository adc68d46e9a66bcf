"""The audit trail, for admins."""

from __future__ import annotations

from sqlalchemy import select

from webapp.api.pages import page_of
from webapp.api.schemas import AuditEventOut, AuditList, AuditQuery
from webapp.api.spec import operation
from webapp.api.tokens import require_role
from webapp.models import AuditEvent, Role


@operation(
    "/audit",
    summary="Audit events, newest first (admins)",
    tag="audit",
    response=AuditList,
    query=AuditQuery,
)
def audit(query: AuditQuery):
    require_role(Role.ADMIN)
    statement = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if query.user:
        statement = statement.where(AuditEvent.username == query.user)
    if query.object_type:
        statement = statement.where(AuditEvent.object_type == query.object_type)
    if query.action:
        statement = statement.where(AuditEvent.action == query.action)
    page, meta = page_of(statement, query)
    return AuditList(
        items=[AuditEventOut.model_validate(e, from_attributes=True) for e in page.items], **meta
    )
