"""Version pages: the list, a version, its progress, retry, delete, YAML download."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload, undefer
from wtforms import StringField

from webapp.auth.access import roles_required
from webapp.boundary import SubForm
from webapp.downloads import attachment
from webapp.extensions import db
from webapp.htmx_responses import fragment
from webapp.jobruns.routes import STOP_POLLING
from webapp.models import JobRun, Project, Version, VersionLabel, VersionService
from webapp.pages import get_or_404
from webapp.pagination import paginate
from webapp.versions import bp, drafts, services
from webapp.versions.highlight import highlight_yaml
from webapp.versions.planned import image_key


class FilterForm(SubForm):
    label = StringField("Label")
    q = StringField("Search name or service")


def get_version(version_id: int, *options) -> Version:
    """The version, or 404 when it does not exist or was deleted."""
    version = db.session.get(Version, version_id, options=list(options))
    if version is None or version.deleted_at is not None:
        abort(404, "No such version.")
    return version


@bp.route("/projects/<int:project_id>/")
def index(project_id: int):
    """The project's versions, newest first, filtered by label and searched by name/service."""
    project = get_or_404(Project, project_id, "project")
    form = FilterForm(request.args)
    query = (
        select(Version)
        .where(Version.project_id == project.id, Version.deleted_at.is_(None))
        .options(selectinload(Version.labels), joinedload(Version.created_by))
        .order_by(Version.created_at.desc(), Version.id.desc())
    )
    if form.label.data:
        query = query.where(Version.labels.any(VersionLabel.name == form.label.data))
    if form.q.data:
        pattern = f"%{form.q.data.strip()}%"
        query = query.where(
            or_(
                Version.name.ilike(pattern),
                Version.services.any(VersionService.name.ilike(pattern)),
            )
        )
    page = paginate(query)
    ids = [version.id for version in page.items]
    counts = dict(
        db.session.execute(
            select(VersionService.version_id, func.count(VersionService.id))
            .where(VersionService.version_id.in_(ids))
            .group_by(VersionService.version_id)
        ).all()
    )
    labels = db.session.scalars(
        select(VersionLabel.name)
        .join(Version)
        .where(Version.project_id == project.id, Version.deleted_at.is_(None))
        .distinct()
        .order_by(VersionLabel.name)
    ).all()
    return render_template(
        "versions/index.html",
        project=project,
        page=page,
        counts=counts,
        labels=labels,
        form=form,
        may_edit=services.may_edit(current_user),
    )


@bp.route("/<int:version_id>")
def detail(version_id: int):
    version = get_version(
        version_id,
        selectinload(Version.services).options(
            undefer(VersionService.yaml),
            undefer(VersionService.environment_diff),
            selectinload(VersionService.images),
        ),
        selectinload(Version.labels),
        joinedload(Version.created_by),
        joinedload(Version.project),
    )
    highlighted = {s.id: highlight_yaml(s.yaml) for s in version.services}
    return render_template(
        "versions/detail.html", highlighted=highlighted, **_live_context(version)
    )


@bp.route("/<int:version_id>/live")
def live(version_id: int):
    """The version's live region (status, images, charts, jobs, downloads), polled every
    second while the version is being created; 286 with the final markup once it ended."""
    version = get_version(
        version_id,
        selectinload(Version.services).selectinload(VersionService.images),
        selectinload(Version.labels),
        joinedload(Version.created_by),
        joinedload(Version.project),
    )
    code = STOP_POLLING if version.status.finished else 200
    return fragment(
        "partials/versions/live.html", code, just_finished=True, **_live_context(version)
    )


def _live_context(version: Version) -> dict:
    runs = db.session.scalars(
        select(JobRun)
        .where(
            JobRun.kind == services.JOB_KIND,
            JobRun.target_type == "version",
            JobRun.target_id == version.id,
        )
        .order_by(JobRun.id)
    ).all()
    return {
        "version": version,
        "runs": runs,
        "used_by": services.users_of(version),
        "may_retry": services.may_retry(current_user, version),
        "may_delete": services.may_delete(current_user, version),
        "may_edit": services.may_edit(current_user),
    }


@bp.route("/<int:version_id>/progress")
def progress(version_id: int):
    """The progress panel: 200 while the version is being created, 286 when it ended."""
    version = get_version(version_id, selectinload(Version.images))
    code = STOP_POLLING if version.status.finished else 200
    return fragment("partials/versions/progress.html", code, version=version)


@bp.route("/<int:version_id>/retry", methods=["POST"])
@roles_required(*services.EDITOR_ROLES)
def retry(version_id: int):
    version = get_version(version_id)
    try:
        services.retry(version, current_user)
    except services.VersionRefused as exc:
        flash(str(exc), "error")
    else:
        flash(f"Retrying the failed images of {version.name}.", "success")
    return redirect(url_for(".detail", version_id=version.id))


@bp.route("/<int:version_id>/delete", methods=["POST"])
@roles_required(*services.EDITOR_ROLES)
def delete(version_id: int):
    version = get_version(version_id)
    try:
        services.delete(version)
    except services.VersionRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for(".detail", version_id=version.id))
    flash(f"Version {version.name} deleted.", "success")
    return redirect(url_for(".index", project_id=version.project_id))


@bp.route("/<int:version_id>/services/<int:service_id>.yaml")
def service_yaml(version_id: int, service_id: int):
    version = get_version(version_id)
    service = db.session.get(VersionService, service_id)
    if service is None or service.version_id != version.id:
        abort(404, "No such service in this version.")
    return Response(
        service.yaml,
        mimetype="application/yaml",
        headers=attachment(f"{version.name}-{service.name}.yaml"),
    )


@bp.route("/<int:version_id>/copy", methods=["POST"])
@roles_required(*services.EDITOR_ROLES)
def copy(version_id: int):
    """Create from this version: a new draft prefilled from it."""
    version = get_version(
        version_id,
        selectinload(Version.services).selectinload(VersionService.images),
        selectinload(Version.labels),
    )
    images = {}
    for service in version.services:
        for image in service.images:
            if service.service_id is None:
                continue
            repository, _, _ = image.target_ref.rpartition(":")
            images[image_key(service.service_id, image.container)] = {
                "repository": repository if image.push else None,
                "push": image.push,
            }
    draft = drafts.open_draft(current_user.id, version.project_id)
    try:
        drafts.replace(
            draft,
            {
                "name": "",
                "labels": version.label_names,
                "description": version.description or "",
                "environment_id": version.source_environment_id,
                "service_ids": [s.service_id for s in version.services if s.service_id],
                "registry_id": version.target_registry_id,
                "chart_registry_id": version.chart_registry_id,
                "images": images,
                "created_from_id": version.id,
            },
        )
    except drafts.InvalidDraft as exc:
        # A version saved before its text was checked (control characters, say).
        flash(f"{version.name} cannot prefill a new version: {exc}", "error")
        return redirect(url_for(".detail", version_id=version.id))
    flash(f"A new version prefilled from {version.name}: give it a name.", "info")
    return redirect(url_for(".new_step", project_id=version.project_id, step=1))
