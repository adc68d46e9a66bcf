"""Rules about versions: who may do what, creating, retrying, deleting, recovering."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlalchemy import func, or_, select, update

from jobs.helm.values import values_diff

# Imported here, not in the job's call, so a worker's forked work-horse finds it loaded.
from webapp.audit.services import record
from webapp.auth import permissions
from webapp.extensions import db
from webapp.jobruns.queue import enqueue
from webapp.jobruns.reaper import register_recovery
from webapp.models import (
    ImageStatus,
    JobRun,
    JobStatus,
    Project,
    ProjectKind,
    Role,
    User,
    Version,
    VersionImage,
    VersionLabel,
    VersionService,
    VersionStatus,
)
from webapp.models.base import utcnow
from webapp.models.versions import ChartStatus
from webapp.pages import name_taken
from webapp.refusals import Refused
from webapp.versions.helm import PlannedChart, attach_chart, chart_repository
from webapp.versions.plan import environment_of, registry_of
from webapp.versions.planned import PlannedService

JOB_KIND = "version_create"
EDITOR_ROLES = (Role.TEST_ENGINEER,)  # admins always pass
MAX_REQUEUES = 3
REQUEUED = "Requeued as a new job."

# Other areas (release workflows) register a function naming what uses a version.
UsageCheck = Callable[[Version], list[str]]
_usage_checks: list[UsageCheck] = []


class VersionRefused(Refused):
    """A version action the rules refuse now."""


def register_usage_check(check: UsageCheck) -> UsageCheck:
    _usage_checks.append(check)
    return check


def users_of(version: Version) -> list[str]:
    """What uses the version (e.g. ``release #4``); empty until workflows register a check."""
    return [user for check in _usage_checks for user in check(version)]


def may_edit(user: User) -> bool:
    """Create, retry and delete versions: test engineers and admins."""
    return permissions.may_edit_versions(user)


def may_retry(user: User, version: Version) -> bool:
    return may_edit(user) and version.can_become(VersionStatus.RETRYING)


def may_delete(user: User, version: Version) -> bool:
    return may_edit(user) and version.status.finished


def name_in_use(project_id: int, name: str) -> bool:
    return name_taken(Version, Version.name, name, project_id=project_id)


def environment_diff(item: PlannedService) -> str:
    """The service's configuration against the source environment's, as a unified diff."""
    if isinstance(item, PlannedChart):
        return item.diff
    return values_diff(item.source_yaml, item.yaml, old_label="environment", new_label="version")


def create_version(
    project: Project, data: dict, planned: list[PlannedService], user: User
) -> Version:
    """Add the version, its services and images to the session (no commit)."""
    env = environment_of(project.id, data.get("environment_id"))
    registry = registry_of(data.get("registry_id"))
    version = Version(
        project=project,
        name=data["name"],
        description=data.get("description") or None,
        source_environment=env,
        source_environment_name=env.name if env else "",
        target_registry=registry,
        target_registry_address=registry.address if registry else "",
        created_from_id=data.get("created_from_id"),
        globals_yaml=(data.get("globals_applied_yaml") or "").strip() or None,
        status=VersionStatus.CREATING,
        created_by_id=user.id,
    )
    version.labels = [VersionLabel(name=label) for label in data.get("labels") or []]
    if project.kind == ProjectKind.HELM:
        chart_registry = registry_of(data.get("chart_registry_id"))
        version.chart_registry = chart_registry
        version.chart_repository = chart_repository(chart_registry) if chart_registry else ""
    for item in planned:
        service = VersionService(
            service=item.service,
            name=item.service.name,
            order_group=item.service.order_group,
            yaml=item.yaml,
            environment_diff=environment_diff(item),
        )
        attach_chart(service, item)
        version.services.append(service)
        for image in item.images:
            row = VersionImage(
                container=image.container,
                source_ref=image.source_ref,
                target_ref=image.target_ref,
                push=image.push,
                status=ImageStatus.QUEUED if image.push else ImageStatus.SKIPPED,
            )
            service.images.append(row)
            version.images.append(row)
    db.session.add(version)
    db.session.flush()
    record("create", version, detail=f"project {project.key}")
    return version


def start_copy(version: Version, user: User | None) -> JobRun:
    """Enqueue the copy job and point the version at its run (from a web request)."""
    run = _enqueue_copy(version, user)
    version.job_run_id = run.id
    if run.status == JobStatus.FAILED:
        version.move_to(VersionStatus.FAILED, run.error)
    db.session.commit()
    return run


def _enqueue_copy(version: Version, user: User | None) -> JobRun:
    return enqueue(
        "jobs.versions.create_version_images",
        version.id,
        kind=JOB_KIND,
        title=f"Create version {version.name} of {version.project.name}",
        target=version,
        user=user,
    )


def retry(version: Version, user: User) -> JobRun:
    """From ``failed`` only: reset the failed images and charts and redo just those."""
    if not version.can_become(VersionStatus.RETRYING):
        raise VersionRefused(f"Only a failed version can be retried; this one is {version.status}.")
    version.move_to(VersionStatus.RETRYING)
    for image in version.images:
        if image.push and image.status != ImageStatus.DONE:
            image.status = ImageStatus.QUEUED
            image.error = None
            image.bytes_copied = 0
    for service in version.charts:
        if service.chart_status != ChartStatus.DONE:
            service.chart_status = ChartStatus.QUEUED
            service.chart_error = None
    record("retry", version)
    db.session.commit()
    return start_copy(version, user)


def delete(version: Version) -> None:
    """Soft delete with an audit event; refused while in use or still being created."""
    if not version.status.finished:
        raise VersionRefused(
            f"Version {version.name} is {version.status}; wait until it ends, then delete it."
        )
    users = users_of(version)
    if users:
        raise VersionRefused(
            f"Cannot delete version {version.name}: it is used by {', '.join(users)}."
        )
    version.deleted_at = utcnow()
    record("delete", version)
    db.session.commit()


@register_recovery(JOB_KIND)
def requeue_lost_copy(run: JobRun, reason: str) -> None:
    """The reaper found the copy job lost: start it again; images already done are skipped.

    This runs in a worker's reaper thread, and the worker forks the new job's process
    as soon as the job reaches Redis. A SQLite lock this thread held at that moment
    would stay in the new process as a lock nobody releases ("database is locked").
    So every write happens before the job is queued: ``enqueue`` commits the claim
    below together with the new run's row, then pushes the job; the job itself then
    points the version at its run.
    """
    if run.target_type != "version" or run.target_id is None:
        return
    version = db.session.get(Version, run.target_id)
    if version is None or version.status.finished or version.deleted_at is not None:
        return
    newer = db.session.scalar(
        select(JobRun.id)
        .where(JobRun.kind == JOB_KIND, JobRun.target_id == version.id, JobRun.id > run.id)
        .limit(1)
    )
    if newer is not None:  # an older run; the version's copy goes on in a newer one
        return
    lost_before = db.session.scalar(
        select(func.count(JobRun.id)).where(
            JobRun.kind == JOB_KIND,
            JobRun.target_id == version.id,
            JobRun.error.like(f"%{REQUEUED}%"),
        )
    )
    if lost_before >= MAX_REQUEUES:
        version.move_to(
            VersionStatus.FAILED,
            f"The copy job was lost {lost_before + 1} times; last: {reason} Retry when the "
            "workers are healthy.",
        )
        db.session.commit()
        return
    # Several workers each run a reaper: only the one that marks the lost run requeues.
    claimed = db.session.execute(
        update(JobRun)
        .where(
            JobRun.id == run.id,
            or_(JobRun.error.is_(None), ~JobRun.error.like(f"%{REQUEUED}%")),
        )
        .values(error=f"{reason} {REQUEUED}")
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return
    new_run = _enqueue_copy(version, run.created_by)
    current_app.logger.info(
        "version %s: lost job %s requeued as %s", version.id, run.id, new_run.id
    )
    if new_run.status == JobStatus.FAILED:  # Redis refused: no job was queued
        version.move_to(VersionStatus.FAILED, new_run.error)
        db.session.commit()
