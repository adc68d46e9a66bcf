"""Status changes become deliveries in the same transaction; committed ones are enqueued.

A session listener watches every flush for a release or version whose status
changes to one that is notified. It adds a pending ``NotificationDelivery``
per enabled target of the project that asked for the event, in the same
transaction as the change (an outbox: no change without its deliveries, no
delivery of a change that rolled back). Once committed, each delivery is
enqueued as ``jobs.notifications.deliver``; if Redis refuses, the delivery
stays pending in the log and the release goes on: notifying never blocks it
(the worker's reaper loop enqueues such stale deliveries again).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event, inspect, select

from webapp.extensions import db
from webapp.jobruns.queue import get_queue
from webapp.models import (
    DeliveryStatus,
    NotificationDelivery,
    NotificationTarget,
    Release,
    ReleaseStatus,
    Version,
    VersionStatus,
)
from webapp.models.base import utcnow

_ADDED = "notifications.added"
_TO_ENQUEUE = "notifications.to_enqueue"

RELEASE_EVENTS = {
    ReleaseStatus.WAITING_APPROVAL: "release_waiting_approval",
    ReleaseStatus.PASSED: "release_passed",
    ReleaseStatus.FAILED: "release_failed",
    ReleaseStatus.REJECTED: "release_rejected",
    ReleaseStatus.TIMEOUT: "release_timeout",
}
VERSION_EVENTS = {VersionStatus.SUCCESS: "version_created", VersionStatus.FAILED: "version_failed"}


def release_event(old: ReleaseStatus | None, new: ReleaseStatus) -> str | None:
    """The event of a release moving from ``old`` to ``new``; None when nothing is notified."""
    if new is ReleaseStatus.RUNNING:
        # Running again after an approval is not a start.
        return "release_started" if old in (None, ReleaseStatus.QUEUED) else None
    return RELEASE_EVENTS.get(new)


def base_url() -> str:
    """Where people open Slipway: links in messages (``SLIPWAY_BASE_URL``)."""
    return str(current_app.config.get("BASE_URL") or "http://127.0.0.1:8000").rstrip("/")


def release_payload(release: Release, event_name: str) -> dict:
    url = f"{base_url()}/releases/{release.id}"
    payload = {
        "event": event_name,
        "occurred_at": utcnow().isoformat() + "Z",
        "project": {"key": release.project.key, "name": release.project.name},
        "release": {
            "id": release.id,
            "status": release.status.value,
            "version": release.version.name,
            "environment": release.environment.name,
            "production": release.environment.production,
            "rollback": release.is_rollback,
            "attempt": release.attempt,
            "message": release.message,
            "url": url,
        },
    }
    if event_name == "release_waiting_approval":
        payload["release"]["approval_url"] = url + "#decision-heading"
    return payload


def version_payload(version: Version, event_name: str) -> dict:
    return {
        "event": event_name,
        "occurred_at": utcnow().isoformat() + "Z",
        "project": {"key": version.project.key, "name": version.project.name},
        "version": {
            "id": version.id,
            "name": version.name,
            "status": version.status.value,
            "error": version.error,
            "url": f"{base_url()}/versions/{version.id}",
        },
    }


def _changed_status(obj):
    history = inspect(obj).attrs.status.history
    if not history.added:
        return None
    old = history.deleted[0] if history.deleted else None
    return old, obj.status


def _events(session) -> list[tuple[object, str]]:
    found = []
    for obj in list(session.dirty):
        if isinstance(obj, Release):
            change = _changed_status(obj)
            name = release_event(*change) if change else None
        elif isinstance(obj, Version):
            change = _changed_status(obj)
            name = VERSION_EVENTS.get(change[1]) if change else None
        else:
            continue
        if name:
            found.append((obj, name))
    return found


@event.listens_for(db.session, "before_flush")
def _add_deliveries(session, flush_context, instances) -> None:
    found = _events(session)
    if not found:
        return
    with session.no_autoflush:
        projects = {obj.project_id for obj, _ in found}
        targets = session.scalars(
            select(NotificationTarget).where(
                NotificationTarget.project_id.in_(projects), NotificationTarget.enabled.is_(True)
            )
        ).all()
        for obj, name in found:
            wanted = [t for t in targets if t.project_id == obj.project_id and name in t.events]
            if not wanted:
                continue
            if isinstance(obj, Release):
                payload, subject = release_payload(obj, name), "release"
            else:
                payload, subject = version_payload(obj, name), "version"
            for target in wanted:
                delivery = NotificationDelivery(
                    target=target,
                    event=name,
                    subject_type=subject,
                    subject_id=obj.id,
                    payload=payload,
                )
                session.add(delivery)
                session.info.setdefault(_ADDED, []).append(delivery)


@event.listens_for(db.session, "after_flush")
def _remember_ids(session, flush_context) -> None:
    added = session.info.get(_ADDED)
    if not added:
        return
    still = []
    for delivery in added:
        if delivery.id is None:  # added by before_flush, written by the next flush
            still.append(delivery)
        else:
            session.info.setdefault(_TO_ENQUEUE, []).append(delivery.id)
    session.info[_ADDED] = still


@event.listens_for(db.session, "after_commit")
def _enqueue_committed(session) -> None:
    ids = session.info.pop(_TO_ENQUEUE, None)
    if not ids or not has_app_context():
        return
    try:
        queue = get_queue()
        for delivery_id in ids:
            enqueue_delivery(delivery_id, queue)
    except RedisError as exc:
        current_app.logger.warning("notifications %s stay pending: Redis refused: %s", ids, exc)


def enqueue_delivery(delivery_id: int, queue=None) -> None:
    (queue or get_queue()).enqueue(
        "jobs.notifications.deliver",
        delivery_id,
        job_id=f"notification-{delivery_id}-{uuid.uuid4().hex[:8]}",
        result_ttl=86400,
        failure_ttl=7 * 86400,
    )


#: A pending delivery whose attempt is this late lost its job (Redis refused or was flushed).
STALE_AFTER = timedelta(minutes=5)


def requeue_stale_deliveries() -> list[int]:
    """Enqueue again the pending deliveries nobody is working on; the reaper loop calls it.

    Delivery is at least once: a receiver may see a delivery twice (same
    ``X-Slipway-Delivery`` id) when a job was only slow, never zero times.
    """
    due = utcnow() - STALE_AFTER
    ids = db.session.scalars(
        select(NotificationDelivery.id).where(
            NotificationDelivery.status == DeliveryStatus.PENDING,
            (
                (NotificationDelivery.next_attempt_at.is_(None))
                & (NotificationDelivery.created_at < due)
            )
            | (NotificationDelivery.next_attempt_at < due),
        )
    ).all()
    if not ids:
        return []
    queue = get_queue()
    for delivery_id in ids:
        enqueue_delivery(delivery_id, queue)
    # Pushed on, so the next round does not enqueue them again at once.
    db.session.execute(
        NotificationDelivery.__table__.update()
        .where(NotificationDelivery.id.in_(ids))
        .values(next_attempt_at=utcnow())
    )
    db.session.commit()
    return list(ids)


@event.listens_for(db.session, "after_soft_rollback")
def _forget(session, previous_transaction) -> None:
    session.info.pop(_ADDED, None)
    session.info.pop(_TO_ENQUEUE, None)
