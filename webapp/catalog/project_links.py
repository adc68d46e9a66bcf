"""What the project, version and environment pages link to: workflows and recent releases."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from webapp.catalog import bp
from webapp.extensions import db
from webapp.models import Release, Workflow

RECENT_RELEASES = 10


@bp.app_template_global()
def project_workflows(project_id: int) -> list[Workflow]:
    return db.session.scalars(
        select(Workflow)
        .where(Workflow.project_id == project_id)
        .options(joinedload(Workflow.environment), selectinload(Workflow.stages))
        .order_by(Workflow.name)
    ).all()


@bp.app_template_global()
def project_releases(project_id: int) -> list[Release]:
    return db.session.scalars(
        select(Release)
        .where(Release.project_id == project_id)
        .options(
            joinedload(Release.version),
            joinedload(Release.environment),
            joinedload(Release.workflow),
        )
        .order_by(Release.id.desc())
        .limit(RECENT_RELEASES)
    ).all()
