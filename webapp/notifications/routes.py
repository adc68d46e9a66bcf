"""Admin pages: a project's webhook targets and each target's delivery log."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import func, select

from webapp.audit.services import record
from webapp.auth.access import admin_required
from webapp.extensions import db
from webapp.models import NotificationDelivery, NotificationTarget, Project, TargetKind
from webapp.notifications import bp
from webapp.notifications.forms import TargetForm
from webapp.pages import get_or_404, name_taken, render_form
from webapp.pagination import paginate


def _apply(form: TargetForm, target: NotificationTarget) -> None:
    target.name = form.name.data
    target.kind = TargetKind(form.kind.data)
    target.url = form.url.data.strip()
    if form.secret.data:
        target.secret = form.secret.data
    target.events = list(form.events.data)
    target.enabled = form.enabled.data


@bp.route("/projects/<int:project_id>/")
@admin_required
def index(project_id: int):
    project = get_or_404(Project, project_id, "project")
    targets = db.session.scalars(
        select(NotificationTarget)
        .where(NotificationTarget.project_id == project.id)
        .order_by(NotificationTarget.name)
    ).all()
    ids = [t.id for t in targets]
    stats = {
        (target_id, status): count
        for target_id, status, count in db.session.execute(
            select(
                NotificationDelivery.target_id,
                NotificationDelivery.status,
                func.count(NotificationDelivery.id),
            )
            .where(NotificationDelivery.target_id.in_(ids))
            .group_by(NotificationDelivery.target_id, NotificationDelivery.status)
        ).all()
    }
    return render_template(
        "notifications/index.html", project=project, targets=targets, stats=stats
    )


@bp.route("/projects/<int:project_id>/new", methods=["GET", "POST"])
@admin_required
def new(project_id: int):
    project = get_or_404(Project, project_id, "project")
    form = TargetForm()
    if form.validate_on_submit():
        if name_taken(
            NotificationTarget, NotificationTarget.name, form.name.data, project_id=project.id
        ):
            form.name.errors.append("A target with this name exists in the project.")
        else:
            target = NotificationTarget(project=project)
            _apply(form, target)
            db.session.add(target)
            db.session.flush()
            record("create", target, detail=f"project {project.key}: {target.kind.value}")
            db.session.commit()
            flash(f"Notification target {target.name} added.", "success")
            return redirect(url_for(".index", project_id=project.id))
    return render_form("notifications/form.html", form, project=project, target=None)


def _target(target_id: int) -> NotificationTarget:
    target = db.session.get(NotificationTarget, target_id)
    if target is None:
        abort(404, "No such notification target.")
    return target


@bp.route("/targets/<int:target_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(target_id: int):
    target = _target(target_id)
    form = TargetForm(obj=target, has_secret=bool(target.secret))
    if not form.is_submitted():
        form.secret.data = ""
        form.kind.data = target.kind.value
    if form.validate_on_submit():
        if name_taken(
            NotificationTarget,
            NotificationTarget.name,
            form.name.data,
            exclude_id=target.id,
            project_id=target.project_id,
        ):
            form.name.errors.append("A target with this name exists in the project.")
        else:
            _apply(form, target)
            record("update", target, detail=f"project {target.project.key}")
            db.session.commit()
            flash(f"Notification target {target.name} saved.", "success")
            return redirect(url_for(".index", project_id=target.project_id))
    return render_form("notifications/form.html", form, project=target.project, target=target)


@bp.route("/targets/<int:target_id>/delete", methods=["POST"])
@admin_required
def delete(target_id: int):
    target = _target(target_id)
    project_id = target.project_id
    record("delete", target)
    db.session.delete(target)
    db.session.commit()
    flash(f"Notification target {target.name} deleted with its delivery log.", "success")
    return redirect(url_for(".index", project_id=project_id))


@bp.route("/targets/<int:target_id>")
@admin_required
def log(target_id: int):
    """The target's deliveries, newest first: event, status, HTTP status code, attempts."""
    target = _target(target_id)
    page = paginate(
        select(NotificationDelivery)
        .where(NotificationDelivery.target_id == target.id)
        .order_by(NotificationDelivery.id.desc())
    )
    return render_template("notifications/log.html", target=target, page=page)
