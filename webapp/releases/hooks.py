"""What releases register with other areas: version usage and recovery of lost executors."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.jobruns.reaper import register_recovery
from webapp.models import JobRun, Release, ReleaseStatus, Version
from webapp.releases.services import (
    EXECUTOR_KIND,
    TIMEOUT_KIND,
    enqueue_executor,
    enqueue_timeout,
    finish,
    lock_holders,
)
from webapp.versions.services import register_usage_check

MAX_RESUMES = 3


@register_usage_check
def releases_of(version: Version) -> list[str]:
    """A version a release used cannot be deleted: the release keeps its history."""
    ids = db.session.scalars(
        select(Release.id).where(Release.version_id == version.id).order_by(Release.id).limit(6)
    ).all()
    return [f"release #{release_id}" for release_id in ids]


@register_recovery(EXECUTOR_KIND)
def resume_lost_release(run: JobRun, reason: str) -> None:
    """The reaper found an executor lost: run the release again from its unfinished stage."""
    release = db.session.scalar(select(Release).where(Release.job_run_id == run.id))
    if release is None or release.status not in (ReleaseStatus.QUEUED, ReleaseStatus.RUNNING):
        return
    holder = lock_holders([release.environment_id]).get(release.environment_id)
    if holder != release.id:
        return
    lost_before = db.session.scalar(
        select(func.count(JobRun.id)).where(
            JobRun.kind == EXECUTOR_KIND,
            JobRun.target_id == release.id,
            JobRun.error.like("%Resumed as job%"),
        )
    )
    if lost_before >= MAX_RESUMES:
        finish(
            release,
            ReleaseStatus.FAILED,
            f"The release executor was lost {lost_before + 1} times; last: {reason} "
            "Retry when the workers are healthy.",
        )
        return
    enqueue_executor(release)
    run.error = f"{reason} Resumed as job {release.job_run_id}."
    current_app.logger.info("release %s: lost job %s resumed", release.id, run.id)
    db.session.commit()


@register_recovery(TIMEOUT_KIND)
def reschedule_lost_timeout(run: JobRun, reason: str) -> None:
    """Redis lost a scheduled approval timeout: schedule it again for the same deadline."""
    release = db.session.get(Release, run.target_id) if run.target_id else None
    if release is None or release.status is not ReleaseStatus.WAITING_APPROVAL:
        return
    stage = release.waiting_stage()
    if stage is None or stage.deadline_at is None:
        return
    enqueue_timeout(release, stage)
    run.error = f"{reason} Scheduled again for {stage.deadline_at:%Y-%m-%d %H:%M:%S} UTC."
    db.session.commit()
