from flask import render_template, request
from sqlalchemy import select

from webapp.audit import bp
from webapp.auth.access import admin_required
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.pagination import paginate


@bp.route("/")
@admin_required
def index():
    """Audit events, newest first, filterable by user and object."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    username = request.args.get("user", "").strip()
    object_type = request.args.get("object_type", "").strip()
    object_name = request.args.get("object", "").strip()
    if username:
        query = query.where(AuditEvent.username == username)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_name:
        query = query.where(AuditEvent.object_name.contains(object_name))
    page = paginate(query)
    object_types = db.session.scalars(
        select(AuditEvent.object_type).where(AuditEvent.object_type.is_not(None)).distinct()
    ).all()
    return render_template(
        "audit/index.html",
        page=page,
        filters={"user": username, "object_type": object_type, "object": object_name},
        object_types=sorted(object_types),
    )
