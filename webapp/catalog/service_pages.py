"""Service pages: a K8s YAML template or a Helm chart, and a startup order group."""

from flask import Response, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from jobs.helm.values import ValuesError, detect_image_paths, format_image_paths, parse_values
from webapp.audit.services import record
from webapp.auth.access import admin_required
from webapp.catalog import bp
from webapp.catalog.forms import HelmServiceForm, YamlServiceForm
from webapp.catalog.usage import service_users
from webapp.downloads import attachment
from webapp.extensions import db
from webapp.jobruns.queue import enqueue
from webapp.models import EnvironmentService, JobRun, Project, ProjectKind, Service
from webapp.pages import get_or_404, name_taken, render_form, users_message

CHART_CHECK_KIND = "service_chart_check"


def _form_class(project: Project):
    return HelmServiceForm if project.kind is ProjectKind.HELM else YamlServiceForm


def detected_image_paths(values_yaml: str | None) -> str:
    """The image paths found in a chart's default values, as the form's text (empty if none)."""
    try:
        values = parse_values(values_yaml or "", current_app.config["MAX_YAML_BYTES"])
    except ValuesError:
        return ""
    return format_image_paths(detect_image_paths(values))


def _apply(form, item: Service) -> None:
    item.name = form.name.data
    item.order_group = form.order_group.data
    if isinstance(form, YamlServiceForm):
        item.yaml_template = form.yaml_template.data
    else:
        if form.chart_bytes is not None:
            item.chart_archive = form.chart_bytes
            item.chart_name = form.chart_info.name
            item.chart_version = form.chart_info.version
            item.default_values = form.chart_info.values_yaml
        item.image_paths = (form.image_paths.data or "").strip() or None


def _start_chart_check(form, item: Service) -> None:
    """Enqueue lint + render of an uploaded chart: they run templates, so never in the view."""
    if getattr(form, "chart_bytes", None) is None:
        return
    run = enqueue(
        "jobs.service_charts.check_service_chart",
        item.id,
        kind=CHART_CHECK_KIND,
        title=f"Check chart {item.chart_name} {item.chart_version} of service {item.name}",
        target=item,
        user=current_user,
    )
    flash(f"Checking the chart with Helm lint and a trial render: job #{run.id}.", "info")


def _start_chart_pull(form, item: Service) -> None:
    """Enqueue the pull of the chart the Helm form named, if it named one."""
    field = getattr(form, "chart_reference", None)
    reference = (field.data or "").strip() if field is not None else ""
    if not reference:
        return
    run = enqueue(
        "jobs.service_charts.pull_service_chart",
        item.id,
        reference,
        kind="service_chart_pull",
        title=f"Pull chart {reference} for service {item.name}",
        target=item,
        user=current_user,
    )
    flash(f"Pulling the chart {reference}: job #{run.id}.", "info")


@bp.route("/services/<int:service_id>")
def service(service_id: int):
    item = get_or_404(Service, service_id, "service")
    deployed = db.session.scalars(
        select(EnvironmentService)
        .where(EnvironmentService.service_id == item.id)
        .options(
            selectinload(EnvironmentService.environment), selectinload(EnvironmentService.images)
        )
    ).all()
    image_paths = chart_check = None
    if item.project.kind is ProjectKind.HELM:
        image_paths = item.image_paths or detected_image_paths(item.default_values)
        chart_check = db.session.scalar(
            select(JobRun)
            .where(JobRun.kind == CHART_CHECK_KIND, JobRun.target_id == item.id)
            .order_by(JobRun.id.desc())
            .limit(1)
        )
    return render_template(
        "catalog/service.html",
        service=item,
        deployed=deployed,
        image_paths=image_paths,
        chart_check=chart_check,
    )


@bp.route("/services/<int:service_id>/chart.tgz")
def service_chart(service_id: int):
    item = get_or_404(Service, service_id, "service")
    if not item.chart_archive:
        abort(404, "This service has no chart.")
    filename = f"{item.chart_name}-{item.chart_version}.tgz"
    return Response(
        item.chart_archive,
        mimetype="application/gzip",
        headers=attachment(filename),
    )


@bp.route("/projects/<int:project_id>/services/new", methods=["GET", "POST"])
@admin_required
def new_service(project_id: int):
    project = get_or_404(Project, project_id, "project")
    form = _form_class(project)()
    if form.validate_on_submit():
        if name_taken(Service, Service.name, form.name.data, project_id=project.id):
            form.name.errors.append("A service with this name exists in the project.")
        else:
            item = Service(project=project)
            _apply(form, item)
            db.session.add(item)
            db.session.flush()
            record("create", item, detail=f"project {project.key}")
            db.session.commit()
            flash(f"Service {item.name} added.", "success")
            _start_chart_check(form, item)
            _start_chart_pull(form, item)
            return redirect(url_for(".service", service_id=item.id))
    return render_form("catalog/service_form.html", form, project=project, service=None)


@bp.route("/services/<int:service_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_service(service_id: int):
    item = get_or_404(Service, service_id, "service")
    form_class = _form_class(item.project)
    extra = {"has_chart": bool(item.chart_name)} if form_class is HelmServiceForm else {}
    form = form_class(obj=item, **extra)
    if form_class is HelmServiceForm and not form.is_submitted() and not item.image_paths:
        form.image_paths.data = detected_image_paths(item.default_values)
    if form.validate_on_submit():
        if name_taken(
            Service, Service.name, form.name.data, exclude_id=item.id, project_id=item.project_id
        ):
            form.name.errors.append("A service with this name exists in the project.")
        else:
            _apply(form, item)
            record("update", item, detail=f"project {item.project.key}")
            db.session.commit()
            flash(f"Service {item.name} saved.", "success")
            _start_chart_check(form, item)
            _start_chart_pull(form, item)
            return redirect(url_for(".service", service_id=item.id))
    return render_form("catalog/service_form.html", form, project=item.project, service=item)


@bp.route("/services/<int:service_id>/delete", methods=["POST"])
@admin_required
def delete_service(service_id: int):
    item = get_or_404(Service, service_id, "service")
    users = service_users(item)
    if users:
        flash(users_message(f"service {item.name}", users), "error")
        return redirect(url_for(".service", service_id=item.id))
    project_id = item.project_id
    record("delete", item)
    db.session.delete(item)
    db.session.commit()
    flash(f"Service {item.name} deleted.", "success")
    return redirect(url_for(".project", project_id=project_id))
