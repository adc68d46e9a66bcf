"""The Helm half of the version job: package each chart with its values and push it.

Called by ``jobs.versions.create_version_images`` inside its app context; the
chart repository's credentials are read from the catalog row here, never
passed in job arguments.
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from jobs.helm.charts import (
    ChartLintError,
    build_metadata_problem,
    existing_chart_message,
    next_chart_version,
    package_chart,
)
from jobs.helm.repository import ChartRepositoryError, chart_versions, push_chart
from jobs.helm.values import parse_values
from jobs.runtime import Outcome, job_run, public_message
from webapp.extensions import db
from webapp.models import Registry, Version, VersionService
from webapp.models.versions import ChartStatus

DEFAULT_MAX_CHART_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_VALUES_BYTES = 512 * 1024


def build_charts(version: Version) -> list[VersionService]:
    """Package and push every chart of ``version`` not yet done; return the failed services.

    Each service's row is committed as it moves (packaging, done or failed), so
    the progress panel shows it and a retry redoes only the failed ones.
    """

    todo = [s for s in version.charts if s.chart_status != ChartStatus.DONE]
    if not todo:
        return []
    registry = version.chart_registry
    refused = _refused_chart_versions(version, todo, registry)
    if refused:
        for service in todo:
            service.chart_status = ChartStatus.FAILED
            service.chart_error = refused.get(
                service.id, "Not pushed: another chart of this version was refused."
            )
        db.session.commit()
        return todo
    for service in todo:
        service.chart_status = ChartStatus.PACKAGING
        service.chart_error = None
        db.session.commit()
        try:
            if registry is None:
                raise LookupError("the chart repository was deleted from the catalog")
            _build_one(version, service, registry)
        except Exception as exc:  # noqa: BLE001 - the message lands on the chart's row
            db.session.rollback()
            service.chart_status = ChartStatus.FAILED
            service.chart_error = _message(exc)
        else:
            service.chart_status = ChartStatus.DONE
        db.session.commit()
    return [s for s in version.charts if s.chart_status != ChartStatus.DONE]


def _refused_chart_versions(
    version: Version, todo: list[VersionService], registry: Registry | None
) -> dict[int, str]:
    """Chart versions that may not be pushed, by service id: checked before any push.

    A chart version already in the repository is never replaced (a push would), and
    SemVer build metadata is refused: Helm pushes ``1.0.0+b`` as the tag ``1.0.0_b``.
    """
    if registry is None:
        return {}
    refused: dict[int, str] = {}
    for service in todo:
        if not service.chart_version:
            continue  # the suggestion: the newest version with its patch raised
        problem = build_metadata_problem(service.chart_version)
        if problem is None:
            existing = chart_versions(
                version.chart_repository,
                service.chart_name,
                username=registry.username or None,
                password=registry.password or None,
                plain_http=bool(registry.plain_http),
            )
            if service.chart_version in existing:
                problem = existing_chart_message(
                    service.chart_name, service.chart_version, version.chart_repository
                )
        if problem:
            refused[service.id] = problem
    return refused


def _build_one(version: Version, service: VersionService, registry: Registry) -> None:

    source = service.service
    if source is None or not source.chart_archive:
        raise LookupError(f"the catalog service {service.name} or its chart was deleted")
    login = {
        "username": registry.username or None,
        "password": registry.password or None,
        "plain_http": bool(registry.plain_http),
    }
    existing = chart_versions(version.chart_repository, service.chart_name, **login)
    chart_version = service.chart_version or next_chart_version(existing)
    if chart_version in existing:
        # A registry would let the push replace it: released charts must not change.
        raise ChartRepositoryError(
            existing_chart_message(service.chart_name, chart_version, version.chart_repository)
        )
    config = current_app.config
    work_dir = Path(current_app.instance_path) / "charts-work"
    values = parse_values(
        service.values_yaml or "",
        config.get("MAX_YAML_BYTES", DEFAULT_MAX_VALUES_BYTES),
    )
    packaged = package_chart(
        source.chart_archive,
        values=values,
        version=chart_version,
        app_version=version.name,
        max_bytes=config.get("MAX_CHART_BYTES", DEFAULT_MAX_CHART_BYTES),
        work_dir=work_dir,
    )
    service.chart_version = packaged.version
    service.chart_name = packaged.name
    service.chart_archive = packaged.archive
    service.chart_digest = packaged.digest
    service.chart_size = packaged.size
    pushed = push_chart(
        packaged,
        version.chart_repository,
        work_dir=work_dir,
        **login,
    )
    service.chart_reference = pushed.reference
    service.chart_manifest_digest = pushed.digest


def _message(exc: Exception) -> str:

    if isinstance(exc, ChartLintError):
        return "Helm lint failed: " + "; ".join(exc.messages)
    return public_message(exc, "Packaging the chart")


def charts_summary(version: Version, failed: list[VersionService]) -> str:
    """One line naming the failed charts and why, for the version's error."""
    return f"{len(failed)} of {len(version.charts)} charts failed: " + "; ".join(
        f"{s.name}: {s.chart_error or 'not pushed'}" for s in failed
    )


def fail_unfinished_charts(version: Version, message: str) -> None:
    """Mark charts still queued or packaging as failed with ``message`` (no commit)."""

    for service in version.charts:
        if service.chart_status in (ChartStatus.QUEUED, ChartStatus.PACKAGING):
            service.chart_status = ChartStatus.FAILED
            service.chart_error = message


@job_run
def look_up_chart_versions(
    job_run_id: int, registry_id: int, repository: str, chart_names: list[str]
) -> Outcome:
    """The newest version of each chart in the repository (``None`` for a new chart).

    The form shows them as "last version" with the suggested next one; it reads
    ``JobRun.data["newest"]``.
    """
    registry = db.session.get(Registry, registry_id)
    if registry is None:
        raise LookupError("the chart repository was deleted from the catalog")
    newest: dict[str, str | None] = {}
    every: dict[str, list[str]] = {}
    for name in chart_names:
        versions = chart_versions(
            repository,
            name,
            username=registry.username or None,
            password=registry.password or None,
            plain_http=bool(registry.plain_http),
        )
        newest[name] = versions[0] if versions else None
        every[name] = versions
    pairs = ", ".join(f"{name}={version or '(none)'}" for name, version in newest.items())
    return Outcome(f"Newest in oci://{repository}: {pairs}", {"newest": newest, "versions": every})
