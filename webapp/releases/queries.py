"""What the release pages read: my approvals, what runs where, the timeline's stamp."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import (
    ApprovalDecision,
    EnvironmentLock,
    Release,
    ReleaseService,
    ReleaseStage,
    ReleaseStatus,
    Role,
    ServiceStatus,
    User,
    Version,
)
from webapp.releases.services import approval_refusal


def awaiting(user: User) -> list[Release]:
    """Releases waiting for an approval that ``user`` may give now."""
    if not user.has_role(Role.RELEASE_ENGINEER):
        return []
    waiting = db.session.scalars(
        select(Release)
        .where(Release.status == ReleaseStatus.WAITING_APPROVAL)
        .options(
            selectinload(Release.stages).selectinload(ReleaseStage.decisions),
            selectinload(Release.version),
            selectinload(Release.environment),
            selectinload(Release.requested_by),
        )
        .order_by(Release.id)
    ).all()
    mine = []
    for release in waiting:
        stage = release.waiting_stage()
        if stage is not None and approval_refusal(release, stage, user) is None:
            mine.append(release)
    return mine


def _last_passed_deploys(environment_id: int):
    """The id of each service's last passed deploy in the environment (a subquery)."""
    return (
        select(func.max(ReleaseService.id))
        .join(ReleaseStage, ReleaseService.stage_id == ReleaseStage.id)
        .join(Release, ReleaseStage.release_id == Release.id)
        .where(
            Release.environment_id == environment_id,
            ReleaseService.status == ServiceStatus.PASSED,
            ReleaseService.service_id.is_not(None),
        )
        .group_by(ReleaseService.service_id)
    )


def deployed_versions(environment_id: int) -> dict[int, ReleaseService]:
    """service id -> its last passed deploy in the environment (with release and version)."""
    rows = db.session.scalars(
        select(ReleaseService)
        .where(ReleaseService.id.in_(_last_passed_deploys(environment_id)))
        .options(
            selectinload(ReleaseService.stage)
            .selectinload(ReleaseStage.release)
            .selectinload(Release.version)
        )
    ).all()
    return {row.service_id: row for row in rows}


def timeline_stamp(release_id: int) -> str:
    """A short fingerprint of everything the timeline shows; equal stamps, equal timelines.

    One aggregate query: a poll that finds the same stamp answers 204 and
    renders nothing.
    """
    stage_ids = select(ReleaseStage.id).where(ReleaseStage.release_id == release_id)
    row = db.session.execute(
        select(
            Release.updated_at,
            select(func.max(ReleaseStage.updated_at))
            .where(ReleaseStage.release_id == release_id)
            .scalar_subquery(),
            select(func.max(ReleaseService.updated_at))
            .where(ReleaseService.stage_id.in_(stage_ids))
            .scalar_subquery(),
            select(func.count(ApprovalDecision.id))
            .where(ApprovalDecision.stage_id.in_(stage_ids))
            .scalar_subquery(),
            select(EnvironmentLock.release_id)
            .where(EnvironmentLock.environment_id == Release.environment_id)
            .scalar_subquery(),
        ).where(Release.id == release_id)
    ).one_or_none()
    if row is None:
        return ""
    return _digest(row)


def stamp_of(release: Release, lock_holder: int | None) -> str:
    """:func:`timeline_stamp` of a release whose stages, services and decisions are loaded."""
    stages = release.stages
    services = [row for stage in stages for row in stage.services]
    return _digest(
        (
            release.updated_at,
            max((stage.updated_at for stage in stages), default=None),
            max((row.updated_at for row in services), default=None),
            sum(len(stage.decisions) for stage in stages),
            lock_holder,
        )
    )


def _digest(values) -> str:
    text = "|".join(str(value) for value in values)
    return hashlib.blake2s(text.encode(), digest_size=8).hexdigest()


def now_running(environment_id: int) -> list[dict]:
    """``[{service, version, release_id, is_rollback}]`` in service name order.

    Only the columns it shows, in one query: the release page renders it on every change.
    """
    rows = db.session.execute(
        select(ReleaseService.name, Version.name, Release.id, Release.is_rollback)
        .join(ReleaseStage, ReleaseService.stage_id == ReleaseStage.id)
        .join(Release, ReleaseStage.release_id == Release.id)
        .join(Version, Release.version_id == Version.id)
        .where(ReleaseService.id.in_(_last_passed_deploys(environment_id)))
        .order_by(ReleaseService.name)
    ).all()
    return [
        {"service": service, "version": version, "release_id": release_id, "is_rollback": rollback}
        for service, version, release_id, rollback in rows
    ]
