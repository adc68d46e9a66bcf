"""Project pages."""

from flask import flash, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.audit.services import record
from webapp.auth.access import admin_required
from webapp.catalog import bp
from webapp.catalog.forms import ProjectForm
from webapp.catalog.usage import project_users
from webapp.extensions import db
from webapp.models import Environment, Project, ProjectKind
from webapp.pages import get_or_404, name_taken, render_form, users_message


@bp.route("/projects/")
def projects():
    items = db.session.scalars(
        select(Project)
        .options(selectinload(Project.services), selectinload(Project.environments))
        .order_by(Project.name)
    ).all()
    return render_template("catalog/projects.html", projects=items)


@bp.route("/projects/<int:project_id>")
def project(project_id: int):
    item = db.session.scalar(
        select(Project)
        .where(Project.id == project_id)
        .options(
            selectinload(Project.services),
            selectinload(Project.environments).selectinload(Environment.cluster),
        )
    )
    if item is None:
        return get_or_404(Project, project_id, "project")
    return render_template("catalog/project.html", project=item)


@bp.route("/projects/new", methods=["GET", "POST"])
@admin_required
def new_project():
    form = ProjectForm()
    if form.validate_on_submit():
        if name_taken(Project, Project.key, form.key.data):
            form.key.errors.append("A project with this key exists.")
        else:
            item = Project(
                key=form.key.data,
                name=form.name.data,
                kind=ProjectKind(form.kind.data),
                description=form.description.data,
            )
            db.session.add(item)
            db.session.flush()
            record("create", item)
            db.session.commit()
            flash(f"Project {item.name} created. Add its services and environments.", "success")
            return redirect(url_for(".project", project_id=item.id))
    return render_form("catalog/project_form.html", form, project=None)


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_project(project_id: int):
    item = get_or_404(Project, project_id, "project")
    form = ProjectForm(obj=item)
    if form.validate_on_submit():
        if name_taken(Project, Project.key, form.key.data, exclude_id=item.id):
            form.key.errors.append("A project with this key exists.")
        elif ProjectKind(form.kind.data) != item.kind and item.services:
            form.kind.errors.append("The kind cannot change while the project has services.")
        else:
            item.key = form.key.data
            item.name = form.name.data
            item.kind = ProjectKind(form.kind.data)
            item.description = form.description.data
            record("update", item)
            db.session.commit()
            flash(f"Project {item.name} saved.", "success")
            return redirect(url_for(".project", project_id=item.id))
    return render_form("catalog/project_form.html", form, project=item)


@bp.route("/projects/<int:project_id>/delete", methods=["POST"])
@admin_required
def delete_project(project_id: int):
    item = get_or_404(Project, project_id, "project")
    users = project_users(item)
    if users:
        flash(users_message(f"project {item.name}", users), "error")
        return redirect(url_for(".project", project_id=item.id))
    record("delete", item)
    db.session.delete(item)
    db.session.commit()
    flash(f"Project {item.name} deleted.", "success")
    return redirect(url_for(".projects"))
