"""The release executor: run a release's stages in order, resumable from the first unfinished.

``run_release`` stops at an approval stage (the release waits, no job sleeps);
an approval enqueues it again and it carries on after the approved stage.
Cancel is honoured between stages and between startup order groups.
"""

from __future__ import annotations

from jobs.release_stages import run_stage
from jobs.runtime import job_run, public_message
from webapp.extensions import db
from webapp.models import Release, ReleaseStage, ReleaseStatus, StageStatus
from webapp.releases.services import expire_approval, finish, lock_holders, newer_executor


@job_run
def run_release(job_run_id: int, release_id: int) -> str:
    """Run the release from its first stage that has not passed."""

    release = db.session.get(Release, release_id)
    if release is None:
        raise LookupError(f"release {release_id} was deleted")
    if release.status.finished:
        return f"Release #{release.id} is already {release.status.label}; nothing to do."
    if release.status is ReleaseStatus.WAITING_APPROVAL:
        return f"Release #{release.id} is waiting for an approval."
    if lock_holders([release.environment_id]).get(release.environment_id) != release.id:
        return f"Release #{release.id} does not hold its environment; it stays queued."
    newer = newer_executor(release.id, job_run_id)
    if newer is not None:
        return f"Release #{release.id} is run by job {newer} now; nothing to do."
    if release.status is ReleaseStatus.QUEUED:
        release.move_to(ReleaseStatus.RUNNING)
    release.job_run_id = job_run_id
    db.session.commit()
    try:
        return _run_stages(release, job_run_id)
    except Exception as exc:
        db.session.rollback()
        _fail_unexpectedly(release_id, exc)
        raise


def _run_stages(release, job_run_id: int) -> str:

    for stage in release.stages:
        if stage.status.done:
            continue
        # A lost executor that comes back must not race the one the reaper started.
        newer = newer_executor(release.id, job_run_id)
        if newer is not None:
            return f"Release #{release.id} is run by job {newer} now; this run stops."
        db.session.refresh(release, ["cancel_requested"])
        if release.cancel_requested:
            finish(release, ReleaseStatus.CANCELLED, "Cancelled before stage " + stage.name)
            return f"Release #{release.id} cancelled before stage {stage.name}."
        status = run_stage(release, stage)
        if status is StageStatus.WAITING_APPROVAL:
            return f"Release #{release.id} waits for approval at stage {stage.name}."
        if status is StageStatus.CANCELLED:
            finish(release, ReleaseStatus.CANCELLED, f"Cancelled during stage {stage.name}.")
            return f"Release #{release.id} cancelled during stage {stage.name}."
        if status is not StageStatus.PASSED:
            message = f"Stage {stage.name} {status.label}"
            if stage.message:
                message += f": {stage.message}"
            finish(release, ReleaseStatus.FAILED, message)
            return f"Release #{release.id} failed: {message}"
    finish(release, ReleaseStatus.PASSED, "Every stage passed.")
    return f"Release #{release.id} passed."


def _fail_unexpectedly(release_id: int, exc: Exception) -> None:
    """Land an unexpected error on the release's rows before RQ records it."""

    release = db.session.get(Release, release_id)
    if release is None or release.status.finished:
        return
    for stage in release.stages:
        if stage.status is StageStatus.RUNNING:
            stage.end(StageStatus.FAILED, public_message(exc, "The stage"))
    if release.status is ReleaseStatus.WAITING_APPROVAL:
        return
    finish(release, ReleaseStatus.FAILED, public_message(exc, "The release executor"))


@job_run
def approval_timeout(job_run_id: int, release_id: int, stage_id: int) -> str:
    """At an approval stage's deadline: end the release ``timeout`` if still undecided."""

    release = db.session.get(Release, release_id)
    stage = db.session.get(ReleaseStage, stage_id)
    if release is None or stage is None:
        return "The release is gone."
    if expire_approval(release, stage):
        return f"Release #{release.id} timed out waiting for approval at {stage.name}."
    return f"Stage {stage.name} of release #{release.id} is {stage.status.label}; no timeout."
