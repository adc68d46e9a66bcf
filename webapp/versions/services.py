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
from webapp.jobruns.reaper import live_run_exists, register_recovery, register_state_check
from webapp.models import (
    ImageStatus,
    JobRun,
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
REQUEUED_TITLE = "(requeued)"

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


def start_copy(version: Version, user: User | None, *, commit: bool = True) -> JobRun:
    """Add the copy job and point the version at its run.

    With ``commit=False`` it joins the caller's transaction, so the version (or its
    retry) and its job commit together: no version is ever ``creating`` without a job.
    """
    run = _enqueue_copy(version, user)
    version.job_run_id = run.id
    if commit:
        db.session.commit()
    return run


def _enqueue_copy(version: Version, user: User | None, *, requeued: bool = False) -> JobRun:
    title = f"Create version {version.name} of {version.project.name}"
    return enqueue(
        "jobs.versions.create_version_images",
        version.id,
        kind=JOB_KIND,
        title=f"{title} {REQUEUED_TITLE}" if requeued else title,
        target=version,
        user=user,
        commit=False,
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

    The claim on the lost run and the new run's row commit together; the new job is
    sent to Redis after that commit (the outbox), and the job points the version at it.
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
    new_run = _enqueue_copy(version, run.created_by, requeued=True)
    db.session.commit()
    current_app.logger.info(
        "version %s: lost job %s requeued as %s", version.id, run.id, new_run.id
    )


@register_state_check
def requeue_stuck_versions() -> list[str]:
    """Versions creating or retrying with no live copy job: requeue them, or fail them."""
    stuck = db.session.scalars(
        select(Version).where(
            Version.status.in_([VersionStatus.CREATING, VersionStatus.RETRYING]),
            Version.deleted_at.is_(None),
        )
    ).all()
    done = []
    for version in stuck:
        if live_run_exists(JOB_KIND, "version", version.id):
            continue
        # Take the row, then look again: another reaper may have requeued it meanwhile.
        db.session.execute(
            update(Version)
            .where(Version.id == version.id)
            .values(id=Version.id)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(version)
        if version.status.finished or live_run_exists(JOB_KIND, "version", version.id):
            db.session.rollback()
            continue
        reason = f"Version {version.name} was {version.status} with no copy job."
        lost_before = db.session.scalar(
            select(func.count(JobRun.id)).where(
                JobRun.kind == JOB_KIND,
                JobRun.target_id == version.id,
                or_(JobRun.error.like(f"%{REQUEUED}%"), JobRun.title.like(f"%{REQUEUED_TITLE}")),
            )
        )
        if lost_before >= MAX_REQUEUES:
            version.move_to(
                VersionStatus.FAILED,
                f"{reason} Its copy job was lost {lost_before + 1} times. Retry when the "
                "workers are healthy.",
            )
            done.append(f"{reason} Failed.")
        else:
            new_run = _enqueue_copy(version, version.created_by, requeued=True)
            version.job_run_id = new_run.id
            done.append(f"{reason} Requeued as job {new_run.id}.")
        db.session.commit()
    return done
