"""What releases register with other areas: version usage, recovery of lost executors and
of releases stuck in a working state with no job."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.jobruns.reaper import register_recovery, register_state_check
from webapp.models import EnvironmentLock, JobRun, Release, ReleaseStatus, Version
from webapp.releases.approvals import enqueue_timeout, expire_overdue_approvals
from webapp.releases.services import (
    EXECUTOR_KIND,
    RESUMED,
    TIMEOUT_KIND,
    dispatch,
    enqueue_executor,
    executor_alive,
    finish,
    hold,
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
    hold(release)
    if executor_alive(release):  # another reaper resumed it meanwhile
        db.session.rollback()
        return
    new_run = _resume_or_fail(release, reason)
    if new_run is not None:
        run.error = f"{reason} Resumed as job {new_run.id}."
        current_app.logger.info("release %s: lost job %s resumed", release.id, run.id)
    db.session.commit()


def _resume_or_fail(release: Release, reason: str) -> JobRun | None:
    """Enqueue the executor again (no commit), or fail the release after too many losses."""
    last_fresh = db.session.scalar(
        select(func.max(JobRun.id)).where(
            JobRun.kind == EXECUTOR_KIND,
            JobRun.target_id == release.id,
            ~JobRun.title.like(f"%{RESUMED}"),
        )
    )
    lost_before = db.session.scalar(
        select(func.count(JobRun.id)).where(
            JobRun.kind == EXECUTOR_KIND,
            JobRun.target_id == release.id,
            JobRun.id > (last_fresh or 0),
        )
    )
    if lost_before >= MAX_RESUMES:
        finish(
            release,
            ReleaseStatus.FAILED,
            f"The release executor was lost {lost_before + 1} times; last: {reason} "
            "Retry when the workers are healthy.",
            commit=False,
        )
        return None
    return enqueue_executor(release, resumed=True)


@register_state_check
def resume_stuck_releases() -> list[str]:
    """Releases working with no live executor: resume them (or fail them with the reason).

    Also gives a free environment to its queued releases, frees environments still held
    by ended releases, and ends approvals past their deadline.
    """
    done = expire_overdue_approvals()
    holders = db.session.scalars(
        select(Release)
        .join(EnvironmentLock, EnvironmentLock.release_id == Release.id)
        .where(Release.status.in_([ReleaseStatus.QUEUED, ReleaseStatus.RUNNING]))
    ).all()
    for release in holders:
        if executor_alive(release):
            continue
        hold(release)
        db.session.refresh(release)
        if release.status.finished or executor_alive(release):
            db.session.rollback()
            continue
        reason = f"Release #{release.id} was {release.status.label} with no executor job."
        new_run = _resume_or_fail(release, reason)
        db.session.commit()
        done.append(f"{reason} " + (f"Resumed as job {new_run.id}." if new_run else "Failed."))
    ended_holders = db.session.scalars(
        select(Release)
        .join(EnvironmentLock, EnvironmentLock.release_id == Release.id)
        .where(
            Release.status.not_in(
                [ReleaseStatus.QUEUED, ReleaseStatus.RUNNING, ReleaseStatus.WAITING_APPROVAL]
            )
        )
    ).all()
    for release in ended_holders:
        db.session.execute(
            EnvironmentLock.__table__.delete().where(EnvironmentLock.release_id == release.id)
        )
        dispatch(release.environment_id)
        db.session.commit()
        done.append(f"release #{release.id} had ended holding its environment; freed it")
    free = db.session.scalars(
        select(Release.environment_id)
        .where(
            Release.status == ReleaseStatus.QUEUED,
            Release.environment_id.not_in(select(EnvironmentLock.environment_id)),
        )
        .distinct()
    ).all()
    for environment_id in free:
        started = dispatch(environment_id)
        db.session.commit()
        if started is not None:
            done.append(f"release #{started.id} was queued in a free environment; started it")
    return done


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
