"""A workflow's stages: add and edit (form pages), remove and reorder in place (htmx)."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from webapp.audit.services import record
from webapp.auth.access import admin_required
from webapp.extensions import db
from webapp.htmx_responses import fragment, is_htmx
from webapp.models import StageKind, User, Workflow, WorkflowStage
from webapp.pages import render_form
from webapp.workflows import bp
from webapp.workflows.forms import (
    ApprovalStageForm,
    DeployStageForm,
    HelmDeployStageForm,
    TestStageForm,
)
from webapp.workflows.routes import get_workflow
from webapp.workflows.settings import APPROVER_ROLES, offered_kinds

FORMS = {
    StageKind.DEPLOY: DeployStageForm,
    StageKind.HELM_DEPLOY: HelmDeployStageForm,
    StageKind.TEST: TestStageForm,
    StageKind.APPROVAL: ApprovalStageForm,
}


def _kind(value: str, workflow: Workflow) -> StageKind:
    try:
        kind = StageKind(value)
    except ValueError:
        abort(404, "No such stage kind.")
    if kind not in offered_kinds(workflow.project.kind):
        abort(404, f"A {kind.label} stage does not fit a {workflow.project.kind.label} project.")
    return kind


def _get_stage(workflow: Workflow, stage_id: int) -> WorkflowStage:
    stage = next((s for s in workflow.stages if s.id == stage_id), None)
    if stage is None:
        abort(404, "No such stage in this workflow.")
    return stage


def _form(kind: StageKind, **kwargs):
    form = FORMS[kind](**kwargs)
    if isinstance(form, ApprovalStageForm):
        approvers = db.session.scalars(
            select(User)
            .where(User.role.in_(APPROVER_ROLES), User.active.is_(True))
            .order_by(User.username)
        ).all()
        form.approver_ids.choices = [
            SelectChoice(u.id, f"{u.username} ({u.role.label})") for u in approvers
        ]
    return form


def _stages_answer(workflow: Workflow):
    """The stage list alone for htmx, else back to the workflow page."""
    db.session.refresh(workflow)
    if is_htmx():
        usernames = dict(db.session.execute(select(User.id, User.username)).all())
        return fragment("partials/workflows/stages.html", workflow=workflow, usernames=usernames)
    return redirect(url_for(".detail", workflow_id=workflow.id))


@bp.route("/<int:workflow_id>/stages/new/<kind>", methods=["GET", "POST"])
@admin_required
def new_stage(workflow_id: int, kind: str):
    workflow = get_workflow(workflow_id)
    stage_kind = _kind(kind, workflow)
    form = _form(stage_kind)
    if not form.is_submitted():
        form.name.data = stage_kind.label
    if form.validate_on_submit():
        stage = WorkflowStage(kind=stage_kind, name=form.name.data, settings=form.settings())
        workflow.stages.append(stage)
        workflow.renumber()
        record("add_stage", workflow, detail=f"{stage_kind.label} {stage.name}")
        db.session.commit()
        flash(f"Stage {stage.name} added.", "success")
        return redirect(url_for(".detail", workflow_id=workflow.id))
    return render_form(
        "workflows/stage_form.html", form, workflow=workflow, kind=stage_kind, stage=None
    )


@bp.route("/<int:workflow_id>/stages/<int:stage_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_stage(workflow_id: int, stage_id: int):
    workflow = get_workflow(workflow_id)
    stage = _get_stage(workflow, stage_id)
    initial = FORMS[stage.kind].initial(stage.settings or {})
    form = _form(stage.kind, data={"name": stage.name, **initial})
    if form.validate_on_submit():
        stage.name = form.name.data
        stage.settings = form.settings()
        record("update_stage", workflow, detail=f"{stage.kind.label} {stage.name}")
        db.session.commit()
        flash(f"Stage {stage.name} saved.", "success")
        return redirect(url_for(".detail", workflow_id=workflow.id))
    return render_form(
        "workflows/stage_form.html", form, workflow=workflow, kind=stage.kind, stage=stage
    )


@bp.route("/<int:workflow_id>/stages/<int:stage_id>/delete", methods=["POST"])
@admin_required
def delete_stage(workflow_id: int, stage_id: int):
    workflow = get_workflow(workflow_id)
    stage = _get_stage(workflow, stage_id)
    workflow.stages.remove(stage)
    workflow.renumber()
    record("remove_stage", workflow, detail=f"{stage.kind.label} {stage.name}")
    db.session.commit()
    return _stages_answer(workflow)


@bp.route("/<int:workflow_id>/stages/<int:stage_id>/up", methods=["POST"])
@admin_required
def move_stage_up(workflow_id: int, stage_id: int):
    return _move(workflow_id, stage_id, -1)


@bp.route("/<int:workflow_id>/stages/<int:stage_id>/down", methods=["POST"])
@admin_required
def move_stage_down(workflow_id: int, stage_id: int):
    return _move(workflow_id, stage_id, +1)


def _move(workflow_id: int, stage_id: int, offset: int):
    workflow = get_workflow(workflow_id)
    stage = _get_stage(workflow, stage_id)
    workflow.move(stage, offset)
    record("move_stage", workflow, detail=f"{stage.name} to position {stage.position}")
    db.session.commit()
    return _stages_answer(workflow)
