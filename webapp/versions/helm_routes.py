"""Helm routes: a version's chart downloads (one .tgz, or all in a tar); the form's lookup."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator

from flask import Response, abort, stream_with_context
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import load_only

from webapp.auth.access import roles_required
from webapp.downloads import attachment
from webapp.extensions import db
from webapp.htmx_responses import fragment
from webapp.jobruns.routes import STOP_POLLING
from webapp.models import Project, VersionService
from webapp.models.versions import ChartStatus
from webapp.pages import get_or_404
from webapp.versions import bp, drafts, helm_wizard, services
from webapp.versions.routes import get_version


def _attachment(filename: str) -> dict[str, str]:
    return attachment(filename)


def chart_filename(service: VersionService) -> str:
    return f"{service.chart_name}-{service.chart_version}.tgz"


@bp.route("/<int:version_id>/charts/<int:service_id>.tgz")
def chart_download(version_id: int, service_id: int):
    """The packaged chart, as pushed to the chart repository."""
    version = get_version(version_id)
    service = db.session.get(VersionService, service_id)
    if service is None or service.version_id != version.id or not service.is_chart:
        abort(404, "No such chart in this version.")
    if service.chart_status != ChartStatus.DONE or not service.chart_archive:
        abort(404, f"The chart of {service.name} was not packaged.")
    return Response(
        service.chart_archive,
        mimetype="application/gzip",
        headers={**_attachment(chart_filename(service)), "Content-Length": str(service.chart_size)},
    )


@bp.route("/<int:version_id>/charts.tar")
def charts_download(version_id: int):
    """Every packaged chart of the version in one tar, read from the database one at a time."""
    version = get_version(version_id)
    ids = db.session.scalars(
        select(VersionService.id)
        .where(
            VersionService.version_id == version.id,
            VersionService.chart_status == ChartStatus.DONE,
        )
        .order_by(VersionService.order_group, VersionService.name)
    ).all()
    if not ids:
        abort(404, "This version has no packaged chart.")
    return Response(
        stream_with_context(_tar_of_charts(ids)),
        mimetype="application/x-tar",
        headers=_attachment(f"{version.project.key}-{version.name}-charts.tar"),
    )


class _Chunks(io.RawIOBase):
    """A write-only file collecting what tarfile writes, handed out chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def _tar_of_charts(ids: list[int]) -> Iterator[bytes]:
    out = _Chunks()
    with tarfile.open(fileobj=out, mode="w|") as tar:
        for service_id in ids:
            service = db.session.get(
                VersionService,
                service_id,
                options=[load_only(VersionService.chart_name, VersionService.chart_version)],
            )
            data = service.chart_archive or b""
            info = tarfile.TarInfo(chart_filename(service))
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
            db.session.expire(service)  # drop the archive bytes before the next one
            yield out.take()
    yield out.take()


@bp.route("/projects/<int:project_id>/new/chart-versions")
@roles_required(*services.EDITOR_ROLES)
def chart_lookup(project_id: int):
    """The charts' last versions in the chosen repository; 286 once the lookup ended."""
    project = get_or_404(Project, project_id, "project")
    draft = drafts.active_draft(current_user.id, project.id)
    context = helm_wizard.lookup_context(project, draft.data if draft else {})
    run = context["lookup_run"]
    code = 200 if run is not None and not run.status.finished else STOP_POLLING
    return fragment("partials/versions/helm_chart_lookup.html", code, project=project, **context)
