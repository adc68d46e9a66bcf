"""Release rules: start, one release per environment, approvals, cancel, retry, rollback.

Views and jobs call these; none of them talks to a cluster. Every change that
ends a release goes through :func:`finish`, which frees the environment and
starts the next queued release there.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

# Imported at the top on purpose: ``flask worker`` builds the app before RQ forks
# a work-horse per job, so the executor and the Kubernetes client are loaded once
# instead of in every work-horse (about 0.2 s off each approval's continuation).
from webapp.audit.services import record
from webapp.auth import permissions
from webapp.extensions import db
from webapp.jobruns.queue import enqueue
from webapp.models import (
    ApprovalDecision,
    Decision,
    EnvironmentLock,
    JobRun,
    Release,
    ReleaseStage,
    ReleaseStatus,
    Role,
    StageStatus,
    User,
    Version,
    VersionStatus,
    Workflow,
)
from webapp.models.base import utcnow
from webapp.refusals import Refused
from webapp.releases.now_running import left_deployed_note
from webapp.releases.retry_rules import first_stage_to_run
from webapp.workflows.settings import DEFAULT_APPROVAL_TIMEOUT, RUNNABLE_KINDS

EXECUTOR_KIND = "release"
TIMEOUT_KIND = "release_approval_timeout"


class ReleaseRefused(Refused):
    """A release action the rules refuse now."""


# --- who may do what ---------------------------------------------------------


def may_run(user: User, workflow: Workflow) -> bool:
    """Release engineers run any workflow; test engineers only non-production ones."""
    return permissions.may_run_workflow(user, workflow)


def approval_refusal(release: Release, stage: ReleaseStage, user: User) -> str | None:
    """Why ``user`` may not decide on ``stage`` now, or None when they may."""
    settings = stage.settings or {}
    if not user.has_role(Role.RELEASE_ENGINEER):
        return "Only release engineers and admins approve releases."
    named = user.id in (settings.get("approver_ids") or []) or user.role.value in (
        settings.get("approver_roles") or []
    )
    if not named:
        return f"You are not an approver of stage {stage.name}."
    if user.id == release.requested_by_id and not settings.get("allow_requester"):
        return (
            f"You started this release, and stage {stage.name} does not let the requester approve."
        )
    if any(d.user_id == user.id and d.attempt == release.attempt for d in stage.decisions):
        return f"You already decided on stage {stage.name}."
    return None


def approvals(release: Release, stage: ReleaseStage) -> int:
    return sum(
        1
        for d in stage.decisions
        if d.attempt == release.attempt and d.decision is Decision.APPROVE
    )


# --- the environment lock ----------------------------------------------------


def lock_holders(environment_ids) -> dict[int, int]:
    """environment id -> id of the release holding it."""
    ids = list(set(environment_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(EnvironmentLock.environment_id, EnvironmentLock.release_id).where(
            EnvironmentLock.environment_id.in_(ids)
        )
    )
    return dict(rows.all())


def _acquire(release: Release) -> bool:
    """Take the environment for ``release``; False when another release holds it.

    The lock row's primary key is the environment, so two workers racing for
    it cannot both win, on SQLite or PostgreSQL. Call with nothing pending.
    """
    db.session.add(EnvironmentLock(environment_id=release.environment_id, release_id=release.id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def _unlock(release: Release) -> None:
    db.session.execute(
        EnvironmentLock.__table__.delete().where(EnvironmentLock.release_id == release.id)
    )


def dispatch(environment_id: int) -> Release | None:
    """Start the oldest queued release of the environment if the environment is free."""
    if db.session.get(EnvironmentLock, environment_id) is not None:
        return None
    release = db.session.scalar(
        select(Release)
        .where(
            Release.environment_id == environment_id,
            Release.status == ReleaseStatus.QUEUED,
        )
        .order_by(Release.id)
        .limit(1)
    )
    if release is None or not _acquire(release):
        return None
    enqueue_executor(release)
    return release


def enqueue_executor(release: Release) -> None:
    """Enqueue ``run_release`` for a release that holds its environment."""
    run = enqueue(
        "jobs.releases.run_release",
        release.id,
        kind=EXECUTOR_KIND,
        title=f"Release #{release.id}: {release.version.name} to "
        f"{release.project.key}/{release.environment.name}",
        target=release,
        user=release.requested_by,
    )
    release.job_run_id = run.id
    db.session.commit()


def newer_executor(release_id: int, job_run_id: int) -> int | None:
    """The id of an executor run enqueued for the release after ``job_run_id``, if any."""
    return db.session.scalar(
        select(JobRun.id)
        .where(
            JobRun.kind == EXECUTOR_KIND,
            JobRun.target_type == "release",
            JobRun.target_id == release_id,
            JobRun.id > job_run_id,
        )
        .limit(1)
    )


def finish(release: Release, status: ReleaseStatus, message: str | None = None) -> None:
    """End the release, free its environment and start the next queued release there."""
    note = left_deployed_note(release, status)
    if note:
        message = f"{message or release.message or ''} {note}".strip()
    release.move_to(status, message)
    release.cancel_requested = False
    _unlock(release)
    db.session.commit()
    dispatch(release.environment_id)


def _claim(stage: ReleaseStage, status: StageStatus, message: str | None = None) -> bool:
    """Move a waiting approval stage on, once: concurrent deciders cannot both win."""
    changed = db.session.execute(
        update(ReleaseStage)
        .where(
            ReleaseStage.id == stage.id,
            ReleaseStage.status == StageStatus.WAITING_APPROVAL,
        )
        .values(status=status, message=message, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(stage)
    return changed == 1


# --- actions -----------------------------------------------------------------


def start_release(
    workflow: Workflow,
    version: Version,
    user: User | None,
    *,
    rollback_of: Release | None = None,
    only_services: list[str] | None = None,
) -> Release:
    """Queue a release of ``version`` via ``workflow``; it starts once the environment is free.

    ``only_services``: the names of the version's services to deploy (None: all of them).
    """
    if version.project_id != workflow.project_id:
        raise ReleaseRefused("The version belongs to another project than the workflow.")
    if version.status is not VersionStatus.SUCCESS or version.deleted_at is not None:
        raise ReleaseRefused(f"Version {version.name} is not a successful version.")
    if only_services is not None:
        unknown_services = set(only_services) - {service.name for service in version.services}
        if not only_services or unknown_services:
            raise ReleaseRefused(f"Pick at least one of the services of version {version.name}.")
    if not workflow.stages:
        raise ReleaseRefused(f"Workflow {workflow.name} has no stages.")
    unknown = [s.name for s in workflow.stages if s.kind not in RUNNABLE_KINDS]
    if unknown:
        raise ReleaseRefused(f"Stages {', '.join(unknown)} cannot run in this Slipway.")
    release = Release(
        project_id=workflow.project_id,
        workflow=workflow,
        environment_id=workflow.environment_id,
        version=version,
        requested_by_id=getattr(user, "id", None),
        is_rollback=rollback_of is not None,
        rollback_of=rollback_of,
        selected_services=only_services,
    )
    for stage in workflow.stages:
        copy = ReleaseStage(
            position=stage.position, kind=stage.kind, name=stage.name, settings=dict(stage.settings)
        )
        if rollback_of is not None and workflow.rollbacks_skip_gates and not stage.kind.deploys:
            copy.status = StageStatus.SKIPPED
            copy.message = (
                "Skipped: this workflow's rollbacks skip approval and tests (an admin option)."
            )
        release.stages.append(copy)
    db.session.add(release)
    db.session.flush()
    action = "rollback" if rollback_of is not None else "start_release"
    detail = f"version {version.name} to {workflow.environment.name} via {workflow.name}"
    if rollback_of is not None:
        gates = "skips" if workflow.rollbacks_skip_gates else "runs"
        detail += f" (rollback of #{rollback_of.id}; {gates} approval and tests)"
    record(action, release, detail=detail, user=user)
    db.session.commit()
    dispatch(release.environment_id)
    return release


def decide(release: Release, user: User, decision: Decision, comment: str) -> ApprovalDecision:
    """Record one approver's decision; enough approvals continue, one reject ends the release."""
    stage = release.waiting_stage()
    if release.status is not ReleaseStatus.WAITING_APPROVAL or stage is None:
        raise ReleaseRefused("This release is not waiting for an approval.")
    refusal = approval_refusal(release, stage, user)
    if refusal:
        raise ReleaseRefused(refusal)
    entry = ApprovalDecision(
        stage=stage,
        user_id=user.id,
        username=user.username,
        attempt=release.attempt,
        decision=decision,
        comment=comment,
    )
    db.session.add(entry)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ReleaseRefused(f"You already decided on stage {stage.name}.") from exc
    verb = "approve" if decision is Decision.APPROVE else "reject"
    record(verb, release, detail=f"stage {stage.name}: {comment}" if comment else stage.name)
    db.session.commit()
    needed = int((stage.settings or {}).get("approvals_needed", 1))
    if decision is Decision.REJECT:
        if _claim(stage, StageStatus.REJECTED, f"Rejected by {user.username}"):
            finish(release, ReleaseStatus.REJECTED, f"{user.username} rejected {stage.name}.")
    elif approvals(release, stage) >= needed:
        approvers = [
            d.username
            for d in stage.decisions
            if d.attempt == release.attempt and d.decision is Decision.APPROVE
        ]
        if _claim(stage, StageStatus.PASSED, f"Approved by {', '.join(approvers)}."):
            release.move_to(ReleaseStatus.RUNNING)
            db.session.commit()
            enqueue_executor(release)
    return entry


def schedule_approval_timeout(release: Release, stage: ReleaseStage) -> None:
    """Start the approval clock: RQ's scheduler runs ``approval_timeout`` at the deadline."""
    seconds = int((stage.settings or {}).get("timeout_seconds") or DEFAULT_APPROVAL_TIMEOUT)
    stage.deadline_at = utcnow() + timedelta(seconds=seconds)
    db.session.commit()
    enqueue_timeout(release, stage)


def enqueue_timeout(release: Release, stage: ReleaseStage) -> None:
    """Schedule ``approval_timeout`` for the stage's ``deadline_at`` (now if it has passed)."""
    delay = max(timedelta(0), stage.deadline_at - utcnow())
    enqueue(
        "jobs.releases.approval_timeout",
        release.id,
        stage.id,
        kind=TIMEOUT_KIND,
        title=f"Approval timeout of release #{release.id}, stage {stage.name}",
        target=release,
        delay=delay,
    )


def expire_approval(release: Release, stage: ReleaseStage) -> bool:
    """End a waiting approval whose deadline passed with ``timeout``; False if not due."""
    if stage.status is not StageStatus.WAITING_APPROVAL or stage.deadline_at is None:
        return False
    if stage.deadline_at > utcnow():
        return False
    if not _claim(stage, StageStatus.TIMEOUT, "Nobody decided before the deadline."):
        return False
    record("approval_timeout", release, detail=stage.name, user=None)
    finish(release, ReleaseStatus.TIMEOUT, f"Stage {stage.name} waited past its timeout.")
    return True


def cancel(release: Release, user: User) -> str:
    """Cancel now when nothing runs; otherwise ask the executor to stop at its next safe point."""
    if release.status is ReleaseStatus.QUEUED:
        record("cancel", release, user=user)
        finish(release, ReleaseStatus.CANCELLED, f"Cancelled by {user.username} before it started.")
        return "Release cancelled."
    if release.status is ReleaseStatus.WAITING_APPROVAL:
        stage = release.waiting_stage()
        if stage is not None and _claim(stage, StageStatus.CANCELLED, "Cancelled while waiting"):
            record("cancel", release, user=user)
            finish(release, ReleaseStatus.CANCELLED, f"Cancelled by {user.username}.")
            return "Release cancelled."
        raise ReleaseRefused("The release moved on meanwhile; look again.")
    if release.status is ReleaseStatus.RUNNING:
        release.cancel_requested = True
        release.message = f"Cancel requested by {user.username}: stops at the next safe point."
        record("cancel", release, user=user)
        db.session.commit()
        return "Cancel requested: the release stops at the next safe point."
    raise ReleaseRefused(f"A {release.status.label} release cannot be cancelled.")


def retry(release: Release, user: User) -> None:
    """Run the release again from its first stage that did not pass; passed stages stay."""
    if not release.can_become(ReleaseStatus.QUEUED):
        raise ReleaseRefused(
            "Only a failed, rejected, timed-out or cancelled release can be retried."
        )
    first, reason = first_stage_to_run(release)
    if first is None:
        raise ReleaseRefused("Every stage of this release passed; nothing to retry.")
    for stage in release.stages:
        if stage.position >= first.position:
            stage.reset()
    release.attempt += 1
    because = f": {reason}" if reason else ""
    release.move_to(
        ReleaseStatus.QUEUED, f"Retried by {user.username} from stage {first.name}{because}."
    )
    release.cancel_requested = False
    record("retry", release, detail=f"from stage {first.name}{because}", user=user)
    db.session.commit()
    dispatch(release.environment_id)


def rollback_target(release: Release) -> Release | None:
    """The last passed release of the environment before ``release``, with another version."""
    return db.session.scalar(
        select(Release)
        .where(
            Release.environment_id == release.environment_id,
            Release.status == ReleaseStatus.PASSED,
            Release.id < release.id,
            Release.version_id != release.version_id,
        )
        .order_by(Release.id.desc())
        .limit(1)
    )


def rollback(release: Release, user: User) -> Release:
    """A new release, marked as a rollback, redeploying the last passed version."""
    if not release.status.finished:
        raise ReleaseRefused("Roll back a release once it has ended; cancel it first.")
    if not any(stage.kind.deploys for stage in release.workflow.stages):
        raise ReleaseRefused(f"Workflow {release.workflow.name} has no deploy stage.")
    target = rollback_target(release)
    if target is None:
        raise ReleaseRefused(
            f"No earlier passed release of {release.environment.name} with another version: "
            "nothing to roll back to."
        )
    return start_release(release.workflow, target.version, user, rollback_of=release)
