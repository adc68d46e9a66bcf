"""Environment pages and the deployed state per service."""

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from webapp.audit.services import record
from webapp.auth.access import admin_required, roles_required
from webapp.auth.permissions import may_sync_environment
from webapp.catalog import bp
from webapp.catalog.forms import DeployedStateForm, EnvironmentForm
from webapp.catalog.state import set_deployed_images
from webapp.catalog.usage import environment_users
from webapp.extensions import db
from webapp.htmx_responses import fragment, is_htmx
from webapp.jobruns.queue import enqueue
from webapp.models import (
    Cluster,
    Environment,
    EnvironmentService,
    JobRun,
    Project,
    ProjectKind,
    Role,
    Service,
)
from webapp.pages import get_or_404, name_taken, render_form, users_message


def _cluster_choices() -> list[SelectChoice]:
    clusters = db.session.scalars(select(Cluster).order_by(Cluster.name)).all()
    return [SelectChoice(0, "— no cluster —")] + [SelectChoice(c.id, c.name) for c in clusters]


def _namespace_conflict(form: EnvironmentForm, exclude_id: int | None = None) -> str | None:
    """Why the form's cluster + namespace may not be used, or None.

    A production namespace belongs to production: no non-production environment
    (of any project) may deploy into it on the same cluster, and a namespace that
    non-production environments use cannot become a production one.
    """
    cluster_id = form.cluster_id.data or None
    if cluster_id is None:
        return None
    query = select(Environment).where(
        Environment.cluster_id == cluster_id,
        Environment.namespace == form.namespace.data,
        Environment.production.is_(not form.production.data),
    )
    if exclude_id is not None:
        query = query.where(Environment.id != exclude_id)
    other = db.session.scalars(query.limit(1)).first()
    if other is None:
        return None
    where = f"{other.project.key}/{other.name}"
    if form.production.data:
        return (
            f"Namespace {form.namespace.data} on this cluster is used by the non-production "
            f"environment {where}: a production environment needs a namespace of its own."
        )
    return (
        f"Namespace {form.namespace.data} on this cluster belongs to the production "
        f"environment {where}: choose another namespace."
    )


def _apply(form: EnvironmentForm, item: Environment) -> None:
    item.name = form.name.data
    item.cluster_id = form.cluster_id.data or None
    item.namespace = form.namespace.data
    item.production = form.production.data


@bp.route("/environments/<int:environment_id>")
def environment(environment_id: int):
    item = db.session.scalar(
        select(Environment)
        .where(Environment.id == environment_id)
        .options(
            selectinload(Environment.deployed).selectinload(EnvironmentService.images),
            selectinload(Environment.deployed).selectinload(EnvironmentService.service),
        )
    )
    if item is None:
        return get_or_404(Environment, environment_id, "environment")
    by_service = {d.service_id: d for d in item.deployed}
    rows = [(service, by_service.get(service.id)) for service in item.project.services]
    last_sync = db.session.scalar(
        select(JobRun)
        .where(JobRun.kind == "environment_sync", JobRun.target_id == item.id)
        .order_by(JobRun.id.desc())
        .limit(1)
    )
    return render_template(
        "catalog/environment.html", environment=item, rows=rows, last_sync=last_sync
    )


@bp.route("/environments/<int:environment_id>/sync", methods=["POST"])
@roles_required(Role.RELEASE_ENGINEER, Role.TEST_ENGINEER)
def sync_environment_from_cluster(environment_id: int):
    """Enqueue a read of the namespace's workloads into the recorded state."""
    item = get_or_404(Environment, environment_id, "environment")
    if not may_sync_environment(current_user, item):
        abort(
            403,
            f"{item.name} is a production environment: only release engineers and admins "
            "may overwrite its recorded state.",
        )
    if item.cluster is None:
        flash(f"Environment {item.name} has no cluster to sync from: attach one first.", "error")
        return redirect(url_for(".environment", environment_id=item.id))
    run = enqueue(
        "jobs.environments.sync_environment",
        item.id,
        kind="environment_sync",
        title=f"Sync {item.project.key}/{item.name} from cluster {item.cluster.name}",
        target=item,
        user=current_user,
    )
    if is_htmx():
        return fragment("partials/jobruns/status.html", run=run)
    return redirect(url_for(".environment", environment_id=item.id))


@bp.route("/projects/<int:project_id>/environments/new", methods=["GET", "POST"])
@admin_required
def new_environment(project_id: int):
    project = get_or_404(Project, project_id, "project")
    form = EnvironmentForm()
    form.cluster_id.choices = _cluster_choices()
    if form.validate_on_submit():
        conflict = _namespace_conflict(form)
        if name_taken(Environment, Environment.name, form.name.data, project_id=project.id):
            form.name.errors.append("An environment with this name exists in the project.")
        elif conflict:
            form.namespace.errors.append(conflict)
        else:
            item = Environment(project=project)
            _apply(form, item)
            db.session.add(item)
            db.session.flush()
            record("create", item, detail=f"project {project.key}")
            db.session.commit()
            flash(f"Environment {item.name} added.", "success")
            return redirect(url_for(".environment", environment_id=item.id))
    return render_form("catalog/environment_form.html", form, project=project, environment=None)


@bp.route("/environments/<int:environment_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_environment(environment_id: int):
    item = get_or_404(Environment, environment_id, "environment")
    form = EnvironmentForm(obj=item)
    form.cluster_id.choices = _cluster_choices()
    if form.validate_on_submit():
        if name_taken(
            Environment,
            Environment.name,
            form.name.data,
            exclude_id=item.id,
            project_id=item.project_id,
        ):
            form.name.errors.append("An environment with this name exists in the project.")
        elif conflict := _namespace_conflict(form, exclude_id=item.id):
            form.namespace.errors.append(conflict)
        else:
            _apply(form, item)
            record("update", item, detail=f"project {item.project.key}")
            db.session.commit()
            flash(f"Environment {item.name} saved.", "success")
            return redirect(url_for(".environment", environment_id=item.id))
    return render_form(
        "catalog/environment_form.html", form, project=item.project, environment=item
    )


@bp.route("/environments/<int:environment_id>/delete", methods=["POST"])
@admin_required
def delete_environment(environment_id: int):
    item = get_or_404(Environment, environment_id, "environment")
    users = environment_users(item)
    if users:
        flash(users_message(f"environment {item.name}", users), "error")
        return redirect(url_for(".environment", environment_id=item.id))
    project_id = item.project_id
    record("delete", item)
    db.session.delete(item)
    db.session.commit()
    flash(f"Environment {item.name} deleted.", "success")
    return redirect(url_for(".project", project_id=project_id))


@bp.route("/environments/<int:environment_id>/services/<int:service_id>", methods=["GET", "POST"])
@admin_required
def edit_deployed(environment_id: int, service_id: int):
    """Record by hand what a service runs in an environment."""
    env = get_or_404(Environment, environment_id, "environment")
    service = get_or_404(Service, service_id, "service")
    if service.project_id != env.project_id:
        abort(404, "This service is not part of the environment's project.")
    state = db.session.scalar(
        select(EnvironmentService).where(
            EnvironmentService.environment_id == env.id,
            EnvironmentService.service_id == service.id,
        )
    )
    # From the row's values (images as the box's text): a post lacking a field keeps it.
    initial = {}
    if state is not None:
        initial = {
            "rendered_yaml": state.rendered_yaml,
            "values_yaml": state.values_yaml,
            "chart_version": state.chart_version,
            "images": "\n".join(f"{i.container}={i.image}" for i in state.images),
        }
    form = DeployedStateForm(data=initial)
    helm = env.project.kind is ProjectKind.HELM
    # Only the fields of the project's kind are read: the others are not on the page.
    for name in ("rendered_yaml",) if helm else ("values_yaml", "chart_version"):
        delattr(form, name)
    if form.validate_on_submit():
        if state is None:
            state = EnvironmentService(environment=env, service=service)
            db.session.add(state)
        if helm:
            state.values_yaml = form.values_yaml.data or None
            state.chart_version = form.chart_version.data or None
        else:
            state.rendered_yaml = form.rendered_yaml.data or None
        set_deployed_images(state, form.parsed_images)
        record("update_deployed", env, detail=f"service {service.name}")
        db.session.commit()
        flash(f"Deployed state of {service.name} in {env.name} saved.", "success")
        return redirect(url_for(".environment", environment_id=env.id))
    return render_form(
        "catalog/deployed_form.html", form, environment=env, service=service, state=state
    )
