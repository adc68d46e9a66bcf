"""Workflow pages: list, create, edit, delete."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from webapp.audit.services import record
from webapp.auth.access import admin_required
from webapp.extensions import db
from webapp.models import Environment, Project, Release, User, Workflow
from webapp.pages import get_or_404, name_taken, render_form
from webapp.workflows import bp
from webapp.workflows import settings as stage_settings
from webapp.workflows.forms import WorkflowForm


def get_workflow(workflow_id: int) -> Workflow:
    workflow = db.session.get(
        Workflow,
        workflow_id,
        options=[selectinload(Workflow.stages), selectinload(Workflow.environment)],
    )
    if workflow is None:
        abort(404, "No such workflow.")
    return workflow


def _environment_choices(project: Project) -> list[SelectChoice]:
    return [
        SelectChoice(env.id, f"{env.name}{' (production)' if env.production else ''}")
        for env in project.environments
    ]


@bp.route("/")
def index():
    """Every workflow, by project."""
    workflows = db.session.scalars(
        select(Workflow)
        .options(
            selectinload(Workflow.project),
            selectinload(Workflow.environment),
            selectinload(Workflow.stages),
        )
        .order_by(Workflow.project_id, Workflow.name)
    ).all()
    projects = db.session.scalars(select(Project).order_by(Project.name)).all()
    return render_template("workflows/index.html", workflows=workflows, projects=projects)


@bp.route("/<int:workflow_id>")
def detail(workflow_id: int):
    workflow = get_workflow(workflow_id)
    usernames = dict(db.session.execute(select(User.id, User.username)).all())
    return render_template("workflows/detail.html", workflow=workflow, usernames=usernames)


@bp.route("/projects/<int:project_id>/new", methods=["GET", "POST"])
@admin_required
def new(project_id: int):
    project = get_or_404(Project, project_id, "project")
    form = WorkflowForm()
    form.environment_id.choices = _environment_choices(project)
    if not form.environment_id.choices:
        flash(f"Project {project.name} has no environment to release to: add one first.", "error")
        return redirect(url_for("catalog.project", project_id=project.id))
    if form.validate_on_submit():
        if name_taken(Workflow, Workflow.name, form.name.data, project_id=project.id):
            form.name.errors.append("A workflow with this name exists in the project.")
        else:
            workflow = Workflow(
                project=project,
                name=form.name.data,
                environment_id=form.environment_id.data,
                rollbacks_skip_gates=bool(form.rollbacks_skip_gates.data),
            )
            db.session.add(workflow)
            db.session.flush()
            record("create", workflow, detail=f"project {project.key}; {_gates(workflow)}")
            db.session.commit()
            flash(f"Workflow {workflow.name} created: add its stages.", "success")
            return redirect(url_for(".detail", workflow_id=workflow.id))
    return render_form("workflows/form.html", form, project=project, workflow=None)


@bp.route("/<int:workflow_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(workflow_id: int):
    workflow = get_workflow(workflow_id)
    form = WorkflowForm(obj=workflow)
    form.environment_id.choices = _environment_choices(workflow.project)
    if form.validate_on_submit():
        if name_taken(
            Workflow,
            Workflow.name,
            form.name.data,
            exclude_id=workflow.id,
            project_id=workflow.project_id,
        ):
            form.name.errors.append("A workflow with this name exists in the project.")
        else:
            workflow.name = form.name.data
            workflow.environment = db.session.get(Environment, form.environment_id.data)
            workflow.rollbacks_skip_gates = bool(form.rollbacks_skip_gates.data)
            record("update", workflow, detail=_gates(workflow))
            db.session.commit()
            flash(f"Workflow {workflow.name} saved.", "success")
            return redirect(url_for(".detail", workflow_id=workflow.id))
    return render_form("workflows/form.html", form, project=workflow.project, workflow=workflow)


def _gates(workflow: Workflow) -> str:
    skip = "skip" if workflow.rollbacks_skip_gates else "run"
    return f"rollbacks {skip} approval and tests"


@bp.route("/<int:workflow_id>/delete", methods=["POST"])
@admin_required
def delete(workflow_id: int):
    workflow = get_workflow(workflow_id)
    used = db.session.scalar(
        select(func.count(Release.id)).where(Release.workflow_id == workflow.id)
    )
    if used:
        flash(
            f"Cannot delete workflow {workflow.name}: {used} releases ran it and keep their "
            "history. Rename it instead.",
            "error",
        )
        return redirect(url_for(".detail", workflow_id=workflow.id))
    record("delete", workflow)
    db.session.delete(workflow)
    db.session.commit()
    flash(f"Workflow {workflow.name} deleted.", "success")
    return redirect(url_for(".index"))


@bp.app_template_global()
def stage_summary(kind, settings: dict, usernames: dict[int, str] | None = None) -> str:
    return stage_settings.summary(kind, settings or {}, usernames)


@bp.app_template_global()
def stage_kinds(project: Project) -> list:
    return stage_settings.offered_kinds(project.kind)
