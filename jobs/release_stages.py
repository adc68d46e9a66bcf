"""One stage of a release against the cluster: deploy, test, or wait for approval.

Each function writes the stage's (and each service's) status, messages and
log to the database as it goes, so the timeline shows progress live.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby

import requests
import yaml

from jobs.catalog import cluster_access
from jobs.cluster import (
    WORKLOAD_KINDS,
    ClusterAccess,
    ClusterError,
    ClusterNotFound,
    apply_manifests,
    read_workloads,
    run_test_job,
    set_images,
    wait_for_rollout,
)

#: Seconds between looks at a rollout or a test Job.
POLL_INTERVAL = 0.2
#: At most this many services of one startup order group deploy at once.
MAX_PARALLEL = 8


def run_stage(release, stage):
    """Run ``stage`` of ``release``; its final (or waiting) ``StageStatus``."""
    from webapp.extensions import db
    from webapp.models import StageKind, StageStatus

    if stage.kind is StageKind.APPROVAL:
        return _wait_for_approval(release, stage)
    stage.begin()
    db.session.commit()
    env = release.environment
    http_only = stage.kind is StageKind.TEST and (stage.settings or {}).get("mode") == "http"
    if env.cluster is None and not http_only:
        stage.end(StageStatus.FAILED, f"Environment {env.name} has no cluster attached.")
        db.session.commit()
        return stage.status
    access = cluster_access(env.cluster) if env.cluster is not None else None
    try:
        if stage.kind is StageKind.DEPLOY:
            status, message = deploy_stage(release, stage, access)
        elif stage.kind is StageKind.TEST:
            status, message = run_test_stage(release, stage, access)
        else:
            status, message = StageStatus.FAILED, f"A {stage.kind.label} stage cannot run here."
    except ClusterError as exc:
        status, message = StageStatus.FAILED, str(exc)
    stage.append_log(message)
    stage.end(status, message)
    db.session.commit()
    return status


# --- approval -----------------------------------------------------------------


def _wait_for_approval(release, stage):
    from webapp.extensions import db
    from webapp.models import ReleaseStatus, StageStatus
    from webapp.releases.services import schedule_approval_timeout

    if stage.status is StageStatus.WAITING_APPROVAL:  # resumed by the reaper: still waiting
        return stage.status
    stage.begin()
    stage.status = StageStatus.WAITING_APPROVAL
    release.move_to(ReleaseStatus.WAITING_APPROVAL)
    instructions = (stage.settings or {}).get("instructions")
    stage.append_log("Waiting for approval." + (f" {instructions}" if instructions else ""))
    db.session.commit()
    schedule_approval_timeout(release, stage)
    return stage.status


# --- deploy -------------------------------------------------------------------


def manifest_workloads(text: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(kind, name) of the workloads a service's YAML defines, and container -> image."""
    from webapp.catalog.validation import workload_containers

    documents = [doc for doc in yaml.safe_load_all(text or "") if isinstance(doc, dict)]
    workloads, images = [], {}
    for kind, name, container, image in workload_containers(documents):
        if kind in WORKLOAD_KINDS and (kind, name) not in workloads:
            workloads.append((kind, name))
        images[container] = image
    return workloads, images


def deploy_stage(release, stage, access: ClusterAccess):
    """Deploy the version's services group by group; services of a group in parallel."""
    from flask import current_app

    from webapp.extensions import db
    from webapp.models import ReleaseService, ServiceStatus, StageStatus

    settings = stage.settings or {}
    namespace = release.environment.namespace
    existing = None
    if settings.get("only_existing"):
        existing = _live_workloads(access, namespace)
    for item in release.version.services:
        workloads, images = manifest_workloads(item.yaml)
        row = ReleaseService(
            service_id=item.service_id,
            version_service_id=item.id,
            name=item.name,
            order_group=item.order_group,
            images=images,
        )
        if existing is not None and not any(key in existing for key in workloads):
            row.status = ServiceStatus.SKIPPED
            row.message = f"Skipped: not running in {namespace} yet (only existing services)."
        stage.services.append(row)
    db.session.commit()
    app = current_app._get_current_object()
    content = settings.get("content", "images")
    timeout = float(settings.get("timeout_seconds") or 600)
    deployed = skipped = 0
    ordered = sorted(stage.services, key=lambda row: (row.order_group, row.name))
    for group, members in groupby(ordered, key=lambda row: row.order_group):
        rows = [row for row in members if row.status is not ServiceStatus.SKIPPED]
        skipped += sum(1 for row in ordered if row.order_group == group) - len(rows)
        if not rows:
            continue
        db.session.refresh(release, ["cancel_requested"])
        if release.cancel_requested:
            return StageStatus.CANCELLED, f"Cancelled before startup group {group}."
        stage.append_log(f"Group {group}: deploying {', '.join(r.name for r in rows)}")
        db.session.commit()
        ids = [row.id for row in rows]
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ids))) as pool:
            list(
                pool.map(
                    lambda row_id: _deploy_service(
                        app, row_id, access, namespace, content, timeout
                    ),
                    ids,
                )
            )
        for row in rows:
            db.session.refresh(row)
            stage.append_log(f"{row.name}: {row.status.value}: {row.message or ''}")
        passed = [row for row in rows if row.status is ServiceStatus.PASSED]
        _record_deployed(release, passed, access, namespace, full=content == "full")
        db.session.commit()
        failed = [row for row in rows if row.status is not ServiceStatus.PASSED]
        if failed:
            return StageStatus.FAILED, "; ".join(f"{r.name}: {r.message}" for r in failed)
        deployed += len(rows)
    summary = f"Deployed {deployed} service{'s' if deployed != 1 else ''}"
    return StageStatus.PASSED, summary + (f", skipped {skipped}" if skipped else "") + "."


def _live_workloads(access: ClusterAccess, namespace: str) -> set[tuple[str, str]]:
    try:
        return {(w.kind, w.name) for w in read_workloads(access, namespace)}
    except ClusterNotFound:
        return set()


def _deploy_service(app, row_id: int, access, namespace: str, content: str, timeout: float):
    """Deploy one service and wait for its rollout (runs in a thread of the pool)."""
    from webapp.extensions import db
    from webapp.models import ReleaseService, ServiceStatus
    from webapp.models.base import utcnow

    with app.app_context():
        row = db.session.get(ReleaseService, row_id)
        text = row.version_service.yaml if row.version_service else ""
        workloads, images = manifest_workloads(text)
        row.status = ServiceStatus.RUNNING
        row.started_at = utcnow()
        row.message = "applying the YAML" if content == "full" else "setting the images"
        db.session.commit()

        def progress(observed) -> None:
            row.message = str(observed)
            db.session.commit()

        try:
            if content == "full":
                apply_manifests(access, namespace, text)
            else:
                set_images(access, namespace, workloads, images)
            wait_for_rollout(
                access,
                namespace,
                workloads,
                timeout=timeout,
                on_progress=progress,
                poll_interval=POLL_INTERVAL,
            )
        except ClusterNotFound as exc:
            row.status = ServiceStatus.FAILED
            row.message = str(exc)
            if content != "full":
                row.message += " (an images-only deploy updates existing workloads only)"
        except ClusterError as exc:
            row.status = ServiceStatus.FAILED
            row.message = str(exc)
        except Exception as exc:  # a thread's error must land on its row, not vanish
            app.logger.exception("deploying release service %s failed", row_id)
            row.status = ServiceStatus.FAILED
            row.message = f"Unexpected error: {exc}"
        else:
            row.status = ServiceStatus.PASSED
            row.message = "rolled out: " + ", ".join(f"{k} {n}" for k, n in workloads)
        row.ended_at = utcnow()
        db.session.commit()
        db.session.remove()


def _record_deployed(release, rows, access, namespace: str, *, full: bool) -> None:
    """Record what the deployed services now run, as the cluster reports it."""
    from webapp.catalog.state import record_deployed

    if not rows:
        return
    live = {(w.kind, w.name): w for w in read_workloads(access, namespace)}
    for row in rows:
        if row.service is None:
            continue
        text = row.version_service.yaml if row.version_service else ""
        workloads, _ = manifest_workloads(text)
        images = {c.name: c.image for key in workloads if key in live for c in live[key].containers}
        state = record_deployed(release.environment, row.service, images)
        if full:
            state.rendered_yaml = text


# --- test ---------------------------------------------------------------------


def run_test_stage(release, stage, access: ClusterAccess | None):
    """A Kubernetes Job in the target namespace, or HTTP checks; passes or fails."""
    from webapp.extensions import db
    from webapp.models import StageStatus

    settings = stage.settings or {}
    timeout = float(settings.get("timeout_seconds") or 600)
    if settings.get("mode") == "http":
        return _http_checks(stage, settings.get("checks") or [], timeout)

    def progress(line: str) -> None:
        stage.append_log(line)
        db.session.commit()

    command = shlex.split(settings.get("command") or "") or None
    stage.append_log(f"Running {settings.get('image')} {settings.get('command') or ''}".strip())
    db.session.commit()
    result = run_test_job(
        access,
        release.environment.namespace,
        image=settings.get("image", ""),
        command=command,
        timeout=timeout,
        name_prefix=f"slipway-release-{release.id}",
        on_progress=progress,
        poll_interval=POLL_INTERVAL,
    )
    if result.logs:
        stage.log = (stage.log or "") + result.logs.rstrip("\n") + "\n"
    status = StageStatus.PASSED if result.passed else StageStatus.FAILED
    return status, f"Job {result.job_name}: {result.message}"


def _http_checks(stage, checks: list[dict], timeout: float):
    from webapp.extensions import db
    from webapp.models import StageStatus

    failures = []
    for check in checks:
        url, expected = check["url"], int(check.get("status", 200))
        try:
            got = requests.get(url, timeout=min(timeout, 30), allow_redirects=False).status_code
        except requests.RequestException as exc:
            got = None
            stage.append_log(f"GET {url}: no answer ({exc.__class__.__name__}: {exc})")
        else:
            stage.append_log(f"GET {url}: {got} (expected {expected})")
        if got != expected:
            failures.append(url)
        db.session.commit()
    if failures:
        return StageStatus.FAILED, f"{len(failures)} of {len(checks)} HTTP checks failed"
    return StageStatus.PASSED, f"All {len(checks)} HTTP checks passed"
