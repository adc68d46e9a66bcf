"""What a retry runs again, and what the release page says about it.

A retry uses the stage settings the release was started with (frozen on its stages),
whatever the workflow says now. When another release has deployed to the environment
since this one's deploy stages ran, the environment no longer runs this release's
version: the retry runs its deploy stages again (and everything after them), so a
release never ends ``passed`` on top of another version.
"""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Release, ReleaseStage, ReleaseStatus, StageKind

DEPLOY_KINDS = [kind for kind in StageKind if kind.deploys]


def changed_by(release: Release) -> Release | None:
    """The latest other release whose deploy stage ran in the environment after this one's."""
    ran = [s.started_at for s in release.stages if s.kind.deploys and s.started_at is not None]
    if not ran:
        return None
    return db.session.scalar(
        select(Release)
        .join(ReleaseStage, ReleaseStage.release_id == Release.id)
        .where(
            Release.environment_id == release.environment_id,
            Release.id != release.id,
            ReleaseStage.kind.in_(DEPLOY_KINDS),
            ReleaseStage.started_at > min(ran),
        )
        .order_by(ReleaseStage.started_at.desc())
        .limit(1)
    )


def first_stage_to_run(release: Release) -> tuple[ReleaseStage | None, str | None]:
    """The stage a retry starts from, and why it is earlier than the first unpassed one."""
    first = next((s for s in release.stages if not s.status.done), None)
    other = changed_by(release)
    if other is None:
        return first, None
    deploy = next(s for s in release.stages if s.kind.deploys)
    if first is None or deploy.position < first.position:
        first = deploy
    return first, (
        f"release #{other.id} deployed to {release.environment.name} since, so the deploy "
        "stages run again"
    )


def workflow_changed(release: Release) -> bool:
    """Whether the workflow's stages differ from the ones this release was started with."""
    now = [(s.position, s.kind, s.name, dict(s.settings or {})) for s in release.workflow.stages]
    then = [(s.position, s.kind, s.name, dict(s.settings or {})) for s in release.stages]
    return now != then


def retry_context(release: Release) -> dict:
    """What the release page says next to its Retry button."""
    if not release.can_become(ReleaseStatus.QUEUED):
        return {"retry_note": None, "retry_settings_note": None}
    _, reason = first_stage_to_run(release)
    return {
        "retry_note": f"Retry: {reason}." if reason else None,
        "retry_settings_note": (
            "Retry uses the settings this release started with; the workflow has changed since."
            if workflow_changed(release)
            else None
        ),
    }
