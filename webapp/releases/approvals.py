"""The approval lifecycle: begin (the clock starts), decide, expire, cancel while waiting.

A release stops at an approval stage (no job sleeps). Each step is one transaction on
the release and its environment (:func:`~webapp.releases.services.hold`): a decision, the stage
and release moves and the continuation job commit together; the deadline and its
timeout job too. The reaper ends any approval past its deadline from the database
(:func:`expire_overdue_approvals`), so a timeout does not depend on Redis keeping a job.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.audit.services import record
from webapp.extensions import db
from webapp.jobruns.queue import enqueue
from webapp.models import (
    ApprovalDecision,
    Decision,
    Release,
    ReleaseStage,
    ReleaseStatus,
    Role,
    StageStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.models.releases import STAGE_TRANSITIONS
from webapp.releases.services import (
    TIMEOUT_KIND,
    _refused,
    enqueue_executor,
    finish,
    hold,
)
from webapp.workflows.settings import DEFAULT_APPROVAL_TIMEOUT

# --- who may decide ----------------------------------------------------------


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


# --- begin -------------------------------------------------------------------


def schedule_approval_timeout(release: Release, stage: ReleaseStage) -> None:
    """Start the approval clock: the deadline and its timeout job commit together.

    The dispatcher sends ``approval_timeout`` when it is due; the reaper also ends any
    approval past its deadline (:func:`expire_overdue_approvals`), so a timeout fires
    on time even if Redis lost the job.
    """
    seconds = int((stage.settings or {}).get("timeout_seconds") or DEFAULT_APPROVAL_TIMEOUT)
    stage.deadline_at = utcnow() + timedelta(seconds=seconds)
    enqueue_timeout(release, stage, commit=False)
    db.session.commit()


def enqueue_timeout(release: Release, stage: ReleaseStage, *, commit: bool = True) -> None:
    """Add ``approval_timeout`` due at the stage's ``deadline_at`` (now if it has passed)."""
    delay = max(timedelta(0), stage.deadline_at - utcnow())
    enqueue(
        "jobs.releases.approval_timeout",
        release.id,
        stage.id,
        kind=TIMEOUT_KIND,
        title=f"Approval timeout of release #{release.id}, stage {stage.name}",
        target=release,
        delay=delay,
        commit=commit,
    )


# --- decide ------------------------------------------------------------------


def decide(release: Release, user: User, decision: Decision, comment: str) -> ApprovalDecision:
    """Record one approver's decision; enough approvals continue, one reject ends the release.

    One commit holds the decision, the stage's and the release's moves and the executor
    job that continues the release: a crash at any point keeps all of it or none of it.
    """
    hold(release)
    db.session.expire_all()  # read the state as it is now that we hold the release
    stage = release.waiting_stage()
    if release.status is not ReleaseStatus.WAITING_APPROVAL or stage is None:
        raise _refused("This release is not waiting for an approval.")
    refusal = approval_refusal(release, stage, user)
    if refusal:
        raise _refused(refusal)
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
        raise _refused(f"You already decided on stage {stage.name}.") from exc
    verb = "approve" if decision is Decision.APPROVE else "reject"
    record(verb, release, detail=f"stage {stage.name}: {comment}" if comment else stage.name)
    needed = int((stage.settings or {}).get("approvals_needed", 1))
    db.session.refresh(stage, ["decisions"])
    if decision is Decision.REJECT:
        if _claim(stage, StageStatus.REJECTED, f"Rejected by {user.username}"):
            finish(
                release,
                ReleaseStatus.REJECTED,
                f"{user.username} rejected {stage.name}.",
                commit=False,
            )
    elif approvals(release, stage) >= needed:
        approvers = [
            d.username
            for d in stage.decisions
            if d.attempt == release.attempt and d.decision is Decision.APPROVE
        ]
        if _claim(stage, StageStatus.PASSED, f"Approved by {', '.join(approvers)}."):
            release.move_to(ReleaseStatus.RUNNING)
            enqueue_executor(release)
    db.session.commit()
    return entry


def _claim(stage: ReleaseStage, status: StageStatus, message: str | None = None) -> bool:
    """Move a waiting approval stage on, once: concurrent deciders cannot both win."""
    if status not in STAGE_TRANSITIONS[StageStatus.WAITING_APPROVAL]:
        raise ValueError(f"a waiting approval stage cannot become {status}")
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


# --- expire ------------------------------------------------------------------


def expire_approval(release: Release, stage: ReleaseStage) -> bool:
    """End a waiting approval whose deadline passed with ``timeout``; False if not due."""
    if stage.status is not StageStatus.WAITING_APPROVAL or stage.deadline_at is None:
        return False
    if stage.deadline_at > utcnow():
        return False
    hold(release)
    if not _claim(stage, StageStatus.TIMEOUT, "Nobody decided before the deadline."):
        db.session.rollback()
        return False
    record("approval_timeout", release, detail=stage.name, user=None)
    finish(release, ReleaseStatus.TIMEOUT, f"Stage {stage.name} waited past its timeout.")
    return True


def expire_overdue_approvals() -> list[str]:
    """End every waiting approval whose deadline passed (the reaper calls this each round)."""
    overdue = db.session.execute(
        select(Release.id, ReleaseStage.id)
        .join(ReleaseStage, ReleaseStage.release_id == Release.id)
        .where(
            Release.status == ReleaseStatus.WAITING_APPROVAL,
            ReleaseStage.status == StageStatus.WAITING_APPROVAL,
            ReleaseStage.deadline_at <= utcnow(),
        )
    ).all()
    done = []
    for release_id, stage_id in overdue:
        release = db.session.get(Release, release_id)
        stage = db.session.get(ReleaseStage, stage_id)
        if expire_approval(release, stage):
            done.append(f"release #{release_id}: approval {stage.name} timed out")
    return done


# --- cancel while waiting ----------------------------------------------------


def cancel_waiting(release: Release, user: User) -> str:
    """Cancel a release that waits for an approval (the caller holds the release row)."""
    stage = release.waiting_stage()
    if stage is not None and _claim(stage, StageStatus.CANCELLED, "Cancelled while waiting"):
        record("cancel", release, user=user)
        finish(release, ReleaseStatus.CANCELLED, f"Cancelled by {user.username}.")
        return "Release cancelled."
    raise _refused("The release moved on meanwhile; look again.")
