"""Workflows (read) and releases: start, read, cancel, retry, roll back, approve, reject."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from webapp.api.errors import ApiProblem
from webapp.api.pages import page_of
from webapp.api.schemas import (
    DecisionCreate,
    DecisionOut,
    Message,
    ReleaseCreate,
    ReleaseList,
    ReleaseOut,
    ReleaseQuery,
    ReleaseServiceOut,
    ReleaseStageOut,
    ReleaseSummary,
    StageOut,
    WorkflowList,
    WorkflowOut,
)
from webapp.api.spec import Accepted, operation
from webapp.api.tokens import require_role
from webapp.extensions import db
from webapp.models import (
    Decision,
    Project,
    Release,
    ReleaseStage,
    ReleaseStatus,
    Role,
    Scope,
    Version,
    Workflow,
)
from webapp.pages import get_or_404
from webapp.releases import services

APPROVAL_KEYS = ("approvals_needed", "approver_roles", "approver_ids", "allow_requester")


def workflow_out(workflow: Workflow) -> WorkflowOut:
    stages = []
    for stage in workflow.stages:
        settings = stage.settings or {}
        extra = (
            {key: settings.get(key) for key in APPROVAL_KEYS}
            if stage.kind.value == "approval"
            else {}
        )
        stages.append(
            StageOut(position=stage.position, kind=stage.kind.value, name=stage.name, **extra)
        )
    return WorkflowOut(
        id=workflow.id,
        project_id=workflow.project_id,
        name=workflow.name,
        environment_id=workflow.environment_id,
        environment=workflow.environment.name,
        production=workflow.environment.production,
        stages=stages,
        url=url_for("api.workflow", workflow_id=workflow.id),
    )


@operation(
    "/projects/<int:project_id>/workflows",
    summary="List a project's release workflows",
    tag="releases",
    response=WorkflowList,
)
def workflows(project_id: int):
    project = get_or_404(Project, project_id, "project")
    rows = db.session.scalars(
        select(Workflow)
        .where(Workflow.project_id == project.id)
        .options(selectinload(Workflow.stages), joinedload(Workflow.environment))
        .order_by(Workflow.name)
    ).all()
    return WorkflowList(items=[workflow_out(w) for w in rows])


@operation(
    "/workflows/<int:workflow_id>", summary="Read a workflow", tag="releases", response=WorkflowOut
)
def workflow(workflow_id: int):
    return workflow_out(get_or_404(Workflow, workflow_id, "workflow"))


def summary_fields(release: Release) -> dict:
    return {
        "id": release.id,
        "project_id": release.project_id,
        "workflow_id": release.workflow_id,
        "environment_id": release.environment_id,
        "environment": release.environment.name,
        "version_id": release.version_id,
        "version": release.version.name,
        "status": release.status.value,
        "finished": release.status.finished,
        "is_rollback": release.is_rollback,
        "rollback_of_id": release.rollback_of_id,
        "attempt": release.attempt,
        "message": release.message,
        "requested_by": release.requested_by.username if release.requested_by else None,
        "created_at": release.created_at,
        "started_at": release.started_at,
        "ended_at": release.ended_at,
        "url": url_for("api.release", release_id=release.id),
    }


def release_out(release: Release) -> ReleaseOut:
    stages = []
    for stage in release.stages:
        needed = (
            (stage.settings or {}).get("approvals_needed")
            if stage.kind.value == "approval"
            else None
        )
        stages.append(
            ReleaseStageOut(
                position=stage.position,
                kind=stage.kind.value,
                name=stage.name,
                status=stage.status.value,
                message=stage.message,
                started_at=stage.started_at,
                ended_at=stage.ended_at,
                deadline_at=stage.deadline_at,
                approvals_needed=int(needed) if needed is not None else None,
                services=[
                    ReleaseServiceOut(
                        name=s.name,
                        order_group=s.order_group,
                        status=s.status.value,
                        message=s.message,
                        images={str(k): str(v) for k, v in (s.images or {}).items()},
                        started_at=s.started_at,
                        ended_at=s.ended_at,
                    )
                    for s in stage.services
                ],
                decisions=[
                    DecisionOut(
                        username=d.username,
                        decision=d.decision.value,
                        comment=d.comment,
                        attempt=d.attempt,
                        decided_at=d.decided_at,
                    )
                    for d in stage.decisions
                ],
            )
        )
    holder = services.lock_holders([release.environment_id]).get(release.environment_id)
    waiting = release.waiting_stage()
    return ReleaseOut(
        **summary_fields(release),
        stages=stages,
        waiting_stage=waiting.name if waiting else None,
        queued_behind_release_id=holder
        if release.status is ReleaseStatus.QUEUED and holder != release.id
        else None,
    )


def get_release(release_id: int) -> Release:
    release = db.session.get(
        Release,
        release_id,
        options=[
            selectinload(Release.stages).selectinload(ReleaseStage.services),
            selectinload(Release.stages).selectinload(ReleaseStage.decisions),
            joinedload(Release.version),
            joinedload(Release.environment),
            joinedload(Release.requested_by),
        ],
    )
    if release is None:
        raise ApiProblem(404, "No such release.")
    return release


def _fresh(release_id: int) -> ReleaseOut:
    db.session.expire_all()
    return release_out(get_release(release_id))


def _accepted(release_id: int) -> Accepted:
    return Accepted(_fresh(release_id), url_for("api.release", release_id=release_id))


@operation(
    "/releases",
    summary="List releases, newest first",
    tag="releases",
    response=ReleaseList,
    query=ReleaseQuery,
)
def releases(query: ReleaseQuery):
    statement = (
        select(Release)
        .options(
            joinedload(Release.version),
            joinedload(Release.environment),
            joinedload(Release.requested_by),
        )
        .order_by(Release.id.desc())
    )
    if query.project_id:
        statement = statement.where(Release.project_id == query.project_id)
    if query.environment_id:
        statement = statement.where(Release.environment_id == query.environment_id)
    if query.status:
        statement = statement.where(Release.status == ReleaseStatus(query.status))
    page, meta = page_of(statement, query)
    return ReleaseList(items=[ReleaseSummary(**summary_fields(r)) for r in page.items], **meta)


@operation(
    "/releases",
    "POST",
    summary="Start a release of a version via a workflow",
    tag="releases",
    scope=Scope.RELEASES_WRITE,
    body=ReleaseCreate,
    response=ReleaseOut,
    status=202,
    errors=(409,),
    idempotent=True,
)
def start_release(body: ReleaseCreate):
    """Queued at once; it runs when its environment is free. Poll the ``Location``:
    ``finished`` turns true at the end; ``waiting_approval`` waits for approvers."""
    require_role(Role.RELEASE_ENGINEER, Role.TEST_ENGINEER)
    workflow = db.session.get(Workflow, body.workflow_id)
    if workflow is None:
        raise ApiProblem(422, "No such workflow.", "workflow_id")
    if not services.may_run(current_user, workflow):
        raise ApiProblem(403, "Test engineers run only workflows of non-production environments.")
    version = db.session.get(Version, body.version_id)
    if version is None or version.deleted_at is not None:
        raise ApiProblem(422, "No such version.", "version_id")
    release = services.start_release(workflow, version, current_user)
    return _accepted(release.id)


@operation(
    "/releases/<int:release_id>",
    summary="Read a release: stages, services, decisions",
    tag="releases",
    response=ReleaseOut,
)
def release(release_id: int):
    return release_out(get_release(release_id))


@operation(
    "/releases/<int:release_id>/cancel",
    "POST",
    summary="Cancel a release (a running one stops at its next safe point)",
    tag="releases",
    scope=Scope.RELEASES_WRITE,
    response=Message,
    errors=(409,),
)
def cancel_release(release_id: int):
    require_role(Role.RELEASE_ENGINEER)
    message = services.cancel(get_release(release_id), current_user)
    return Message(message=message, release=_fresh(release_id))


@operation(
    "/releases/<int:release_id>/retry",
    "POST",
    summary="Retry a release from its first stage that did not pass",
    tag="releases",
    scope=Scope.RELEASES_WRITE,
    response=ReleaseOut,
    status=202,
    errors=(409,),
)
def retry_release(release_id: int):
    require_role(Role.RELEASE_ENGINEER)
    services.retry(get_release(release_id), current_user)
    return _accepted(release_id)


@operation(
    "/releases/<int:release_id>/rollback",
    "POST",
    summary="Roll back: a new release of the environment's last passed earlier version",
    tag="releases",
    scope=Scope.RELEASES_WRITE,
    response=ReleaseOut,
    status=202,
    errors=(409,),
)
def rollback_release(release_id: int):
    require_role(Role.RELEASE_ENGINEER)
    new = services.rollback(get_release(release_id), current_user)
    return _accepted(new.id)


def _decide(release_id: int, body: DecisionCreate, decision: Decision) -> ReleaseOut:
    require_role(Role.RELEASE_ENGINEER)
    release = get_release(release_id)
    stage = release.waiting_stage()
    if release.status is ReleaseStatus.WAITING_APPROVAL and stage is not None:
        refusal = services.approval_refusal(release, stage, current_user)
        if refusal:
            raise ApiProblem(403, refusal)
    services.decide(release, current_user, decision, body.comment.strip())
    return _fresh(release_id)


@operation(
    "/releases/<int:release_id>/approve",
    "POST",
    summary="Approve the stage the release waits at",
    tag="releases",
    scope=Scope.APPROVE,
    body=DecisionCreate,
    response=ReleaseOut,
    errors=(409,),
)
def approve_release(release_id: int, body: DecisionCreate):
    """The token's user must be a named approver; who started the release may not
    approve unless the stage allows it."""
    return _decide(release_id, body, Decision.APPROVE)


@operation(
    "/releases/<int:release_id>/reject",
    "POST",
    summary="Reject the stage the release waits at (ends the release)",
    tag="releases",
    scope=Scope.APPROVE,
    body=DecisionCreate,
    response=ReleaseOut,
    errors=(409,),
)
def reject_release(release_id: int, body: DecisionCreate):
    return _decide(release_id, body, Decision.REJECT)
