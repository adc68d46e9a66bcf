"""The job behind "Create version": copy the version's images to the target registry."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select

from jobs.oci.registry import Credentials, ImageRef, NotFoundError, copy_image, resolve
from jobs.runtime import JobFailed, job_run, public_message
from jobs.version_charts import build_charts, charts_summary, fail_unfinished_charts
from webapp.catalog.sources import allowed_source_hosts, source_problem
from webapp.extensions import db
from webapp.models import ImageStatus, Registry, Version, VersionStatus
from webapp.models.base import utcnow
from webapp.plurals import plural
from webapp.versions import target_rules

MAX_PARALLEL_IMAGES = 4
PROGRESS_EVERY = 0.5  # seconds between progress writes (SQLite friendly)


class VersionCopyFailed(JobFailed):
    """Some images of the version did not land; the version row says which and why."""


@dataclass(frozen=True)
class Endpoint:
    """How to reach one registry: credentials are decrypted in the job, never passed as args."""

    auth: Credentials | None = None
    plain_http: bool | None = None
    verify_tls: bool = True

    def __repr__(self) -> str:  # never show credentials
        return f"Endpoint(plain_http={self.plain_http}, verify_tls={self.verify_tls})"


@dataclass(frozen=True)
class CopyTask:
    image_id: int
    source_ref: str
    target_ref: str
    source: Endpoint
    target: Endpoint


@job_run
def create_version_images(job_run_id: int, version_id: int) -> str:
    """Copy every pushed image not yet done; end the version ``success`` or ``failed``."""

    version = db.session.get(Version, version_id)
    if version is None or version.deleted_at is not None:
        raise LookupError(f"version {version_id} does not exist")
    if version.status not in (VersionStatus.CREATING, VersionStatus.RETRYING):
        return f"Version {version.name} is already {version.status}; nothing to do."
    version.job_run_id = job_run_id  # a requeued run takes over; saved with the first progress
    try:
        failed_charts = build_charts(version)
        todo = [i for i in version.images if i.push and i.status != ImageStatus.DONE]
        if todo:
            todo = _check_targets(version, todo)
        if todo:
            _copy_all(version, todo)
        failed = [i for i in version.images if i.push and i.status != ImageStatus.DONE]
    except Exception as exc:
        db.session.rollback()
        _fail_unfinished(version_id, "The copy job stopped: " + public_message(exc, "Copying"))
        raise
    pushed = sum(1 for i in version.images if i.push)
    if failed or failed_charts:
        problems = []
        if failed_charts:
            problems.append(charts_summary(version, failed_charts))
        if failed:
            problems.append(
                f"{len(failed)} of {pushed} images failed: "
                + "; ".join(
                    f"{i.version_service.name}/{i.container}: {i.error or 'not copied'}"
                    for i in failed
                )
            )
        summary = " ".join(problems)
        version.move_to(VersionStatus.FAILED, summary)
        db.session.commit()
        raise VersionCopyFailed(summary)
    version.move_to(VersionStatus.SUCCESS)
    db.session.commit()
    charts = f"{plural(len(version.charts), 'chart')} pushed; " if version.charts else ""
    return (
        f"{charts}{plural(len(todo), 'image')} copied and verified; "
        f"{pushed} of {len(version.images)} pushed."
    )


def _check_targets(version, images) -> list:
    """Refuse taken target tags before anything is copied; skip tags that already hold the image.

    A target outside the registry's namespace, recorded by another version, or present in
    the registry with another digest fails its image; then nothing at all is copied, so a
    refused version leaves every registry as it was. The images still to copy are returned.
    """
    if version.target_registry is None:
        raise LookupError("the target registry was deleted from the catalog")
    target = registry_endpoint(version.target_registry)
    sources = source_endpoints()
    taken = target_rules.recorded_elsewhere([i.target_ref for i in images], version.id)
    refused, todo = [], []
    for image in images:
        problem = target_rules.namespace_problem(version.target_registry, image.target_ref)
        if problem is None and image.target_ref in taken:
            problem = target_rules.taken_message(image.target_ref, taken[image.target_ref])
        if problem is None:
            try:
                problem = _registry_conflict(image, target, sources)
            except Exception as exc:  # noqa: BLE001 - the message lands on the image's row
                problem = f"Cannot check the target tag {image.target_ref}: {exc}"
        if problem:
            image.status, image.error, image.ended_at = ImageStatus.FAILED, problem, utcnow()
            refused.append(image)
        elif image.status != ImageStatus.DONE:
            todo.append(image)
    if refused:
        for image in todo:
            image.status = ImageStatus.FAILED
            image.error = "Not copied: another image of this version has a refused target tag."
        todo = []
    db.session.commit()
    return todo


def _registry_conflict(image, target: Endpoint, sources: dict[str, Endpoint]) -> str | None:
    """None when the target tag is free or holds this very image (then marked done)."""
    try:
        found = resolve(
            image.target_ref,
            auth=target.auth,
            plain_http=target.plain_http,
            verify_tls=target.verify_tls,
        )
    except NotFoundError:
        return None
    source = sources.get(registry_host(image.source_ref), Endpoint())
    wanted = resolve(
        image.source_ref,
        auth=source.auth,
        plain_http=source.plain_http,
        verify_tls=source.verify_tls,
    )
    if found != wanted:
        return target_rules.drift_message(image.target_ref, found, wanted)
    image.source_digest = image.target_digest = found
    image.status, image.error, image.ended_at = ImageStatus.DONE, None, utcnow()
    return None


def _copy_all(version, images) -> None:
    """Copy concurrently; worker threads only report, this thread writes the rows."""

    if version.target_registry is None:
        raise LookupError("the target registry was deleted from the catalog")
    target = registry_endpoint(version.target_registry)
    sources = source_endpoints()
    allowed = allowed_source_hosts()
    tasks = []
    for image in images:
        image.status = ImageStatus.QUEUED
        image.error = None
        image.bytes_copied = 0
        # Checked at the form too; again here, so no row makes the worker fetch elsewhere.
        refused = source_problem(image.source_ref, allowed)
        if refused:
            _apply(image, ("failed", image.id, refused))
            continue
        source_host = registry_host(image.source_ref)
        tasks.append(
            CopyTask(
                image.id,
                image.source_ref,
                image.target_ref,
                sources.get(source_host, Endpoint()),
                target,
            )
        )
    if not tasks:
        return
    rows = {image.id: image for image in images}
    events: queue.Queue = queue.Queue()
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_IMAGES, len(tasks))) as pool:
        for task in tasks:
            pool.submit(_copy_one, task, events)
        pending, dirty, last_commit = len(tasks), False, 0.0
        while pending:
            try:
                batch = [events.get(timeout=PROGRESS_EVERY)]
            except queue.Empty:
                batch = []
            while True:
                try:
                    batch.append(events.get_nowait())
                except queue.Empty:
                    break
            for event in batch:
                _apply(rows[event[1]], event)
                pending -= event[0] in ("done", "failed")
            dirty = dirty or bool(batch)
            # Each commit syncs the disk the registries write to: commit in batches; the
            # last batch goes with the version's final status.
            if dirty and pending and time.monotonic() - last_commit >= PROGRESS_EVERY:
                db.session.commit()
                dirty, last_commit = False, time.monotonic()


def _apply(image, event: tuple) -> None:

    kind = event[0]
    if kind == "start":
        image.status = ImageStatus.COPYING
        image.started_at = utcnow()
        image.ended_at = None
    elif kind == "resolved":
        image.source_digest = event[2]
    elif kind == "bytes":
        image.bytes_copied, image.bytes_total = event[2], event[3]
    elif kind == "done":
        result = event[2]
        image.status = ImageStatus.DONE
        image.target_digest = result.digest
        image.media_type = result.media_type
        image.platforms = result.platforms or None
        image.bytes_copied = max(image.bytes_copied, result.bytes_copied)
        image.bytes_total = max(image.bytes_total, image.bytes_copied)
        image.ended_at = utcnow()
    elif kind == "failed":
        image.status = ImageStatus.FAILED
        image.error = event[2]
        image.ended_at = utcnow()


def _copy_one(task: CopyTask, events: queue.Queue) -> None:
    """Resolve, copy and verify one image; always ends with a done or failed event."""
    events.put(("start", task.image_id))
    try:
        source = ImageRef.parse(task.source_ref)
        digest = resolve(
            source,
            auth=task.source.auth,
            plain_http=task.source.plain_http,
            verify_tls=task.source.verify_tls,
        )
        events.put(("resolved", task.image_id, digest))
        result = copy_image(
            source.with_digest(digest),
            task.target_ref,
            src_auth=task.source.auth,
            dst_auth=task.target.auth,
            src_plain_http=task.source.plain_http,
            dst_plain_http=task.target.plain_http,
            src_verify_tls=task.source.verify_tls,
            dst_verify_tls=task.target.verify_tls,
            progress=_throttled_progress(task.image_id, events),
        )
        landed = resolve(
            task.target_ref,
            auth=task.target.auth,
            plain_http=task.target.plain_http,
            verify_tls=task.target.verify_tls,
        )
        if result.digest != digest or landed != digest:
            raise JobFailed(
                f"the target {task.target_ref} has digest {landed}, the source {digest}"
            )
    except Exception as exc:
        events.put(("failed", task.image_id, public_message(exc, f"Copying {task.source_ref}")))
        return
    events.put(("done", task.image_id, result))


def _throttled_progress(image_id: int, events: queue.Queue):
    last = [0.0]
    lock = threading.Lock()

    def report(progress) -> None:
        now = time.monotonic()
        with lock:
            if now - last[0] < PROGRESS_EVERY and progress.bytes_done < progress.bytes_total:
                return
            last[0] = now
        events.put(("bytes", image_id, progress.bytes_done, progress.bytes_total))

    return report


def registry_endpoint(registry) -> Endpoint:
    # No password (e.g. dropped when the address changed): go anonymous, send nothing.
    has_secret = registry.username and registry.password
    auth = Credentials(registry.username, registry.password) if has_secret else None
    return Endpoint(
        auth=auth, plain_http=True if registry.plain_http else None, verify_tls=registry.verify_tls
    )


def source_endpoints() -> dict[str, Endpoint]:
    """Catalog registries by address: a source image on one of them uses its credentials."""

    return {r.address: registry_endpoint(r) for r in db.session.scalars(select(Registry)).all()}


def registry_host(ref: str) -> str:
    try:
        return ImageRef.parse(ref).registry
    except ValueError:
        return ""


def _fail_unfinished(version_id: int, message: str) -> None:

    version = db.session.get(Version, version_id)
    if version is None or version.status.finished:
        return
    for image in version.images:
        if image.push and image.status in (ImageStatus.QUEUED, ImageStatus.COPYING):
            image.status = ImageStatus.FAILED
            image.error = message
    fail_unfinished_charts(version, message)
    version.move_to(VersionStatus.FAILED, message)
    db.session.commit()
