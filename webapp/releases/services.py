"""Release rules: start, one release per environment, cancel, retry, rollback.

The approval lifecycle (begin, decide, expire, cancel while waiting) is in
:mod:`webapp.releases.approvals`; its functions are importable from here too.

Views and jobs call these; none of them talks to a cluster. Every change that
ends a release goes through :func:`finish`, which frees the environment and
starts the next queued release there.

Each action is one transaction: the decision, the stage and release moves and the
job that continues the work (a JobRun row, sent to Redis after the commit) commit
together or not at all. A transaction that may take or free an environment begins by
writing the environment's row (:func:`_serialize`), so concurrent deciders, starters
and finishers take turns, on SQLite (one writer) and PostgreSQL (row lock) alike.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

# Imported at the top on purpose: ``flask worker`` builds the app before RQ forks
# a work-horse per job, so the executor and the Kubernetes client are loaded once
# instead of in every work-horse (about 0.2 s off each approval's continuation).
from webapp.audit.services import record
from webapp.auth import permissions
from webapp.extensions import db
from webapp.jobruns.queue import enqueue
from webapp.jobruns.reaper import live_run_exists
from webapp.models import (
    Environment,
    EnvironmentLock,
    JobRun,
    Release,
    ReleaseStage,
    ReleaseStatus,
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
from webapp.workflows.settings import RUNNABLE_KINDS

EXECUTOR_KIND = "release"
TIMEOUT_KIND = "release_approval_timeout"


class ReleaseRefused(Refused):
    """A release action the rules refuse now."""


def _refused(message: str) -> ReleaseRefused:
    """Give up the transaction (and the rows it holds), then refuse."""
    db.session.rollback()
    return ReleaseRefused(message)


# --- who may do what ---------------------------------------------------------


def may_run(user: User, workflow: Workflow) -> bool:
    """Release engineers run any workflow; test engineers only non-production ones."""
    return permissions.may_run_workflow(user, workflow)


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


def _serialize(model, row_id: int) -> None:
    """Write the row (to itself) so this transaction holds it until it commits.

    PostgreSQL: a row lock, so a concurrent transaction on the same row waits and then
    reads what this one committed. SQLite: the write starts the one writer transaction.
    Callers expire what they loaded before, and read again after this.
    """
    db.session.execute(
        update(model)
        .where(model.id == row_id)
        .values(id=model.id)
        .execution_options(synchronize_session=False)
    )


def hold(release: Release) -> None:
    """Take the release's environment row, then its own: the one order every taker uses.

    Whatever may end a release or start the next one goes through the environment, so
    taking it first means two such transactions never wait on each other in a circle.
    """
    _serialize(Environment, release.environment_id)
    _serialize(Release, release.id)


def _lock_holder(environment_id: int) -> int | None:
    return db.session.scalar(
        select(EnvironmentLock.release_id).where(EnvironmentLock.environment_id == environment_id)
    )


def _unlock(release: Release) -> None:
    db.session.execute(
        EnvironmentLock.__table__.delete().where(EnvironmentLock.release_id == release.id)
    )


def dispatch(environment_id: int) -> Release | None:
    """Give a free environment to its oldest queued release, with its executor job.

    Part of the caller's transaction (no commit): the lock row and the executor's job
    row commit with whatever freed or queued the environment.
    """
    _serialize(Environment, environment_id)
    if _lock_holder(environment_id) is not None:
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
    if release is None:
        return None
    db.session.execute(
        insert(EnvironmentLock).values(
            environment_id=environment_id, release_id=release.id, acquired_at=utcnow()
        )
    )
    enqueue_executor(release)
    return release


RESUMED = "(resumed)"


def enqueue_executor(release: Release, *, resumed: bool = False) -> JobRun:
    """Add the ``run_release`` job for a release that holds its environment (no commit)."""
    title = (
        f"Release #{release.id}: {release.version.name} to "
        f"{release.project.key}/{release.environment.name}"
    )
    run = enqueue(
        "jobs.releases.run_release",
        release.id,
        kind=EXECUTOR_KIND,
        title=f"{title} {RESUMED}" if resumed else title,
        target=release,
        user=release.requested_by,
        commit=False,
    )
    release.job_run_id = run.id
    return run


def executor_alive(release: Release) -> bool:
    """Is an executor job of the release queued (sent or in the outbox) or running?"""
    return live_run_exists(EXECUTOR_KIND, "release", release.id)


def start_message(release: Release) -> str:
    """What the page says after Start (or Roll back): read from rows, never from Redis."""
    what = "Rollback release" if release.is_rollback else "Release"
    head = f"{what} #{release.id} of {release.version.name}"
    if release.job_run is None:
        holder = _lock_holder(release.environment_id)
        behind = f": it starts when release #{holder} ends" if holder else ""
        return f"{head} queued{behind}."
    if release.job_run.waiting_for_queue:
        return f"{head} queued; the job queue is unreachable, it starts when the queue is back."
    return f"{head} started."


def queue_note(release: Release) -> str:
    """What to add to "started"/"approved" when the release's job could not reach Redis yet."""
    run = release.job_run
    if run is not None and run.waiting_for_queue:
        return " It is queued, but the job queue is unreachable: it runs when the queue is back."
    return ""


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


def finish(
    release: Release, status: ReleaseStatus, message: str | None = None, *, commit: bool = True
) -> None:
    """End the release, free its environment and start the next queued release there.

    One transaction: the end, the freed lock, the next release's lock and its job.
    """
    _serialize(Environment, release.environment_id)
    note = left_deployed_note(release, status)
    if note:
        message = f"{message or release.message or ''} {note}".strip()
    release.move_to(status, message)
    release.cancel_requested = False
    _unlock(release)
    dispatch(release.environment_id)
    if commit:
        db.session.commit()


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
    _serialize(Environment, workflow.environment_id)
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
    dispatch(release.environment_id)
    db.session.commit()
    return release


def cancel(release: Release, user: User) -> str:
    """Cancel now when nothing runs; otherwise ask the executor to stop at its next safe point.

    A running release with no executor job (lost, never queued) ends at once: nothing
    would ever reach the safe point.
    """
    hold(release)
    db.session.expire_all()
    if release.status is ReleaseStatus.QUEUED:
        record("cancel", release, user=user)
        finish(release, ReleaseStatus.CANCELLED, f"Cancelled by {user.username} before it started.")
        return "Release cancelled."
    if release.status is ReleaseStatus.WAITING_APPROVAL:
        return cancel_waiting(release, user)
    if release.status is ReleaseStatus.RUNNING and not executor_alive(release):
        record("cancel", release, user=user)
        for stage in release.stages:
            if stage.status is StageStatus.RUNNING:
                stage.end(StageStatus.CANCELLED, "Cancelled: no executor was running it.")
        finish(
            release,
            ReleaseStatus.CANCELLED,
            f"Cancelled by {user.username}; no executor was running it.",
        )
        return "Release cancelled: no executor was running it."
    if release.status is ReleaseStatus.RUNNING:
        release.cancel_requested = True
        release.message = f"Cancel requested by {user.username}: stops at the next safe point."
        record("cancel", release, user=user)
        db.session.commit()
        return "Cancel requested: the release stops at the next safe point."
    raise _refused(f"A {release.status.label} release cannot be cancelled.")


def retry(release: Release, user: User) -> None:
    """Run the release again from its first stage that did not pass; passed stages stay."""
    hold(release)
    db.session.expire_all()
    if not release.can_become(ReleaseStatus.QUEUED):
        raise _refused("Only a failed, rejected, timed-out or cancelled release can be retried.")
    first, reason = first_stage_to_run(release)
    if first is None:
        raise _refused("Every stage of this release passed; nothing to retry.")
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
    dispatch(release.environment_id)
    db.session.commit()


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


# The approval lifecycle lives in its own module; callers keep finding it here.
from webapp.releases.approvals import (  # noqa: E402
    approval_refusal,
    approvals,
    cancel_waiting,
    decide,
    enqueue_timeout,
    expire_approval,
    expire_overdue_approvals,
    schedule_approval_timeout,
)

__all__ = [
    "approval_refusal",
    "approvals",
    "decide",
    "enqueue_timeout",
    "expire_approval",
    "expire_overdue_approvals",
    "schedule_approval_timeout",
]
