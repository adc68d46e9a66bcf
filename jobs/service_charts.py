"""Pull a Helm service's chart from an OCI chart repository into the catalog.

The registry's credentials come from the catalog row whose address is the
reference's host, read here in the job, never passed in job arguments.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from jobs.helm.charts import check_chart_renders, inspect_chart_archive
from jobs.helm.repository import parse_chart_reference, pull_chart
from jobs.runtime import job_run
from webapp.extensions import db
from webapp.models import Registry, Service


@job_run
def pull_service_chart(job_run_id: int, service_id: int, reference: str) -> str:
    """Pull the chart, check it like an upload, and store it on the service."""

    host, _, _ = parse_chart_reference(reference)
    service = db.session.get(Service, service_id)
    if service is None:
        raise LookupError("the service was deleted")
    registry = db.session.scalars(select(Registry).where(Registry.address == host)).first()
    login = {}
    if registry is not None:
        login = {
            "username": registry.username or None,
            "password": registry.password or None,
            "plain_http": bool(registry.plain_http),
        }
    limit = current_app.config["MAX_CHART_BYTES"]
    archive = pull_chart(reference, max_bytes=limit, **login)
    info = inspect_chart_archive(
        archive, limit, max_values_bytes=current_app.config["MAX_YAML_BYTES"]
    )
    check_chart_renders(archive, max_bytes=limit)
    service.chart_archive = archive
    service.chart_name = info.name
    service.chart_version = info.version
    service.default_values = info.values_yaml
    db.session.commit()
    return f"Chart {info.name} {info.version} pulled from {reference} ({len(archive)} bytes)."


@job_run
def check_service_chart(job_run_id: int, service_id: int) -> str:
    """Lint and render an uploaded chart with the service's values, as packaging will."""

    service = db.session.get(Service, service_id)
    if service is None:
        raise LookupError("the service was deleted")
    if not service.chart_archive:
        raise LookupError(f"service {service.name} has no chart")
    count = check_chart_renders(
        service.chart_archive,
        values_yaml=service.default_values,
        max_bytes=current_app.config["MAX_CHART_BYTES"],
    )
    return (
        f"Chart {service.chart_name} {service.chart_version} passes Helm lint and renders "
        f"{count} manifests."
    )
