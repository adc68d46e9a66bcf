"""Deploy stages of a release: K8s YAML (images only or the whole YAML) and Helm charts.

Services go by startup order group, one group after another; the services of
a group deploy in parallel (a thread each, with its own app context and
database session) and each waits for its rollout. Every service row gets its
status, timing and messages as it goes; the pod's message when it cannot run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby

import yaml
from flask import current_app

from jobs.helm.releases import helm_status, helm_upgrade
from jobs.kube.access import ClusterAccess, ClusterError, ClusterNotFound
from jobs.kube.cluster import (
    WORKLOAD_KINDS,
    apply_manifests,
    read_workloads,
    restart_rollout,
    set_images,
)
from jobs.kube.rollouts import wait_for_rollout
from jobs.release_pins import TagDrift, pinned_ref, pinned_values, pinned_yaml, tag_drift
from jobs.runtime import public_message
from webapp.catalog.state import record_deployed
from webapp.catalog.validation import workload_containers
from webapp.extensions import db
from webapp.models import ReleaseService, ServiceStatus, StageStatus
from webapp.models.base import utcnow

#: Seconds between looks at a rollout.
POLL_INTERVAL = 0.2
#: At most this many services of one startup order group deploy at once.
MAX_PARALLEL = 8
# One Helm action at a time per worker process: the Go SDK behind helm_python is
# loaded once per process and its actions are quick next to the rollout waits.
_HELM_ACTION = threading.Lock()

DeployOne = Callable[[object, int], None]
LEFT_OUT = "Skipped: left out when the release was started."


def _left_out(release, name: str) -> bool:
    """Whoever started the release deselected this service."""
    return release.selected_services is not None and name not in release.selected_services


def manifest_workloads(text: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(kind, name) of the workloads a service's YAML defines, and container -> image."""

    documents = [doc for doc in yaml.safe_load_all(text or "") if isinstance(doc, dict)]
    workloads, images = [], {}
    for kind, name, container, image in workload_containers(documents):
        if kind in WORKLOAD_KINDS and (kind, name) not in workloads:
            workloads.append((kind, name))
        images[container] = image
    return workloads, images


def deploy_in_groups(release, stage, deploy_one: DeployOne, record: Callable) -> tuple:
    """Run ``deploy_one(app, row_id)`` for the stage's rows, group by group.

    Between groups the release's cancel flag is honoured. After each group
    ``record(passed_rows)`` stores what now runs. The (StageStatus, message).
    """

    app = current_app._get_current_object()
    deployed = skipped = 0
    ordered = sorted(stage.services, key=lambda row: (row.order_group, row.name))
    for group, members in groupby(ordered, key=lambda row: row.order_group):
        members = list(members)
        rows = [row for row in members if row.status is not ServiceStatus.SKIPPED]
        skipped += len(members) - len(rows)
        if not rows:
            continue
        db.session.refresh(release, ["cancel_requested"])
        if release.cancel_requested:
            return StageStatus.CANCELLED, f"Cancelled before startup group {group}."
        stage.append_log(f"Group {group}: deploying {', '.join(r.name for r in rows)}")
        db.session.commit()
        ids = [row.id for row in rows]
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ids))) as pool:
            list(pool.map(lambda row_id: deploy_one(app, row_id), ids))
        for row in rows:
            db.session.refresh(row)
            stage.append_log(f"{row.name}: {row.status.value}: {row.message or ''}")
        passed = [row for row in rows if row.status is ServiceStatus.PASSED]
        if passed:
            record(passed)
        db.session.commit()
        failed = [row for row in rows if row.status is not ServiceStatus.PASSED]
        if failed:
            return StageStatus.FAILED, "; ".join(f"{r.name}: {r.message}" for r in failed)
        deployed += len(rows)
    summary = f"Deployed {deployed} service{'s' if deployed != 1 else ''}"
    return StageStatus.PASSED, summary + (f", skipped {skipped}" if skipped else "") + "."


def _run_service(app, row_id: int, work: Callable) -> None:
    """Mark the row running, run ``work(row) -> message``, land the outcome on the row."""

    with app.app_context():
        row = db.session.get(ReleaseService, row_id)
        row.status = ServiceStatus.RUNNING
        row.started_at = utcnow()
        db.session.commit()
        try:
            message = work(row)
        except (ClusterError, TagDrift) as exc:
            row.status, row.message = ServiceStatus.FAILED, str(exc)
        except Exception as exc:  # a thread's error must land on its row, not vanish
            app.logger.exception("deploying release service %s failed", row_id)
            row.status, row.message = ServiceStatus.FAILED, public_message(exc, "Deploying")
        else:
            row.status, row.message = ServiceStatus.PASSED, message
        row.ended_at = utcnow()
        db.session.commit()
        db.session.remove()


def _progress(row):

    def report(observed) -> None:
        row.message = str(observed)
        db.session.commit()

    return report


def _live_workloads(access: ClusterAccess, namespace: str) -> dict:
    try:
        return {(w.kind, w.name): w for w in read_workloads(access, namespace)}
    except ClusterNotFound:
        return {}


def _live_images(live: dict, workloads) -> dict[str, str]:
    return {c.name: c.image for key in workloads if key in live for c in live[key].containers}


# --- K8s YAML -----------------------------------------------------------------


def deploy_stage(release, stage, access: ClusterAccess) -> tuple:
    """Images only (``set_images`` on the YAML's workloads) or the whole YAML (apply)."""

    settings = stage.settings or {}
    namespace = release.environment.namespace
    existing = _live_workloads(access, namespace) if settings.get("only_existing") else None
    for item in release.version.services:
        workloads, images = manifest_workloads(pinned_yaml(item))
        row = ReleaseService(
            service_id=item.service_id,
            version_service_id=item.id,
            name=item.name,
            order_group=item.order_group,
            images=images,
        )
        if _left_out(release, item.name):
            row.status = ServiceStatus.SKIPPED
            row.message = LEFT_OUT
        elif existing is not None and not any(key in existing for key in workloads):
            row.status = ServiceStatus.SKIPPED
            row.message = f"Skipped: not running in {namespace} yet (only existing services)."
        stage.services.append(row)
    db.session.commit()
    full = settings.get("content") == "full"
    timeout = float(settings.get("timeout_seconds") or 600)

    registry = release.version.target_registry
    restart = release.attempt > 1

    def work(row) -> str:
        text = pinned_yaml(row.version_service) if row.version_service else ""
        drift = tag_drift(row.version_service, registry) if row.version_service else []
        workloads, images = manifest_workloads(text)
        if full:
            apply_manifests(access, namespace, text)
        else:
            try:
                set_images(access, namespace, workloads, images)
            except ClusterNotFound as exc:
                raise ClusterNotFound(
                    f"{exc} (an images-only deploy updates existing workloads only)"
                ) from exc
        if restart:  # a retry: new pods, not another look at the stuck ones
            restart_rollout(access, namespace, workloads, at=utcnow().isoformat())
        wait_for_rollout(
            access,
            namespace,
            workloads,
            timeout=timeout,
            on_progress=_progress(row),
            poll_interval=POLL_INTERVAL,
        )
        done = "rolled out: " + ", ".join(f"{kind} {name}" for kind, name in workloads)
        if drift:
            raise TagDrift(f"{done}; but tag drift: " + "; ".join(drift))
        return done

    def record(rows) -> None:

        live = _live_workloads(access, namespace)
        for row in rows:
            if row.service is None:
                continue
            text = pinned_yaml(row.version_service) if row.version_service else ""
            workloads, _ = manifest_workloads(text)
            state = record_deployed(release.environment, row.service, _live_images(live, workloads))
            if full:
                state.rendered_yaml = text

    return deploy_in_groups(
        release, stage, lambda app, row_id: _run_service(app, row_id, work), record
    )


# --- Helm charts --------------------------------------------------------------


def _installed_releases(access: ClusterAccess, namespace: str, names: list[str]) -> set[str]:

    found = set()
    for name in names:
        try:
            with _HELM_ACTION:
                helm_status(access, namespace, name)
        except ClusterNotFound:
            continue
        found.add(name)
    return found


def helm_deploy_stage(release, stage, access: ClusterAccess) -> tuple:
    """``helm upgrade --install`` each service's release to the version's chart and values."""

    settings = stage.settings or {}
    namespace = release.environment.namespace
    charts = [item for item in release.version.services if item.is_chart]
    existing = None
    if settings.get("only_existing"):
        existing = _installed_releases(access, namespace, [item.name for item in charts])
    for item in release.version.services:
        row = ReleaseService(
            service_id=item.service_id,
            version_service_id=item.id,
            name=item.name,
            order_group=item.order_group,
            images={
                image.container: pinned_ref(image) or image.target_ref for image in item.images
            },
        )
        if _left_out(release, item.name):
            row.status = ServiceStatus.SKIPPED
            row.message = LEFT_OUT
        elif not item.is_chart:
            row.status = ServiceStatus.SKIPPED
            row.message = "Skipped: this version has no chart for the service."
        elif existing is not None and item.name not in existing:
            row.status = ServiceStatus.SKIPPED
            row.message = f"Skipped: no Helm release {item.name} in {namespace} yet."
        stage.services.append(row)
    db.session.commit()
    timeout = float(settings.get("timeout_seconds") or 600)
    restart = release.attempt > 1
    installed: dict[int, object] = {}

    def work(row) -> str:

        item = row.version_service
        values = pinned_values(item)
        drift = tag_drift(item, release.version.target_registry)
        row.message = f"helm upgrade --install {item.name} {item.chart_name} {item.chart_version}"
        db.session.commit()
        with _HELM_ACTION:
            result = helm_upgrade(
                access,
                namespace,
                item.name,
                item.chart_archive,
                values,
                False,
                timeout,
                description=f"Slipway release #{release.id}: version {release.version.name}",
            )
        installed[row.id] = result
        if restart:  # a retry: new pods, not another look at the stuck ones
            restart_rollout(access, namespace, result.workloads, at=utcnow().isoformat())
        wait_for_rollout(
            access,
            namespace,
            result.workloads,
            timeout=timeout,
            on_progress=_progress(row),
            poll_interval=POLL_INTERVAL,
        )
        done = f"revision {result.revision}: {result.chart_name} {result.chart_version} rolled out"
        if drift:
            raise TagDrift(f"{done}; but tag drift: " + "; ".join(drift))
        return done

    def record(rows) -> None:

        live = _live_workloads(access, namespace)
        for row in rows:
            result = installed.get(row.id)
            if row.service is None or result is None:
                continue
            item = row.version_service
            record_deployed(
                release.environment,
                row.service,
                _live_images(live, result.workloads),
                chart=(item.chart_version, item.values_yaml or ""),
            )

    return deploy_in_groups(
        release, stage, lambda app, row_id: _run_service(app, row_id, work), record
    )
