"""Drift: what runs in an environment differs from what its last release deployed there.

The sync job reads the cluster and calls :func:`service_drift` for each service
with a passed release there; the answer lands on ``EnvironmentService.drift``
(None when the cluster matches). Images are compared by digest when both sides
pin one, else by reference. The spec is compared where Slipway applied it: the
containers of a full-YAML deploy (the keys either side sets, without the ones
the API server fills in), or the values of a Helm release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import yaml
from flask import current_app
from sqlalchemy import select

from webapp.catalog.validation import pod_spec
from webapp.compare.changes import unified_diff
from webapp.extensions import db
from webapp.jobruns.queue import enqueue
from webapp.models import Environment, JobRun, JobStatus, ReleaseService, StageKind
from webapp.models.base import utcnow

SYNC_KIND = "environment_sync"
# Container fields the API server fills in: their presence alone is no drift.
SERVER_DEFAULTS = {"terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy"}


@dataclass
class Expected:
    """What the last passed release deployed for one service."""

    release_id: int
    version: str
    images: dict[str, str]
    yaml: str | None  # the applied YAML (full deploys); None for images-only deploys
    values: str | None  # Helm: the version's values


def expected_of(row: ReleaseService) -> Expected:
    stage, item = row.stage, row.version_service
    full = stage.kind is StageKind.DEPLOY and (stage.settings or {}).get("content") == "full"
    return Expected(
        release_id=stage.release_id,
        version=stage.release.version.name,
        images=dict(row.images or {}),
        yaml=(item.yaml if item is not None and full else None),
        values=(
            item.values_yaml if item is not None and stage.kind is StageKind.HELM_DEPLOY else None
        ),
    )


def _same_image(expected: str, live: str) -> bool:
    exp_ref, _, exp_digest = expected.partition("@")
    live_ref, _, live_digest = live.partition("@")
    if exp_digest and live_digest:
        return exp_digest == live_digest
    return exp_ref == live_ref


def image_drift(expected: dict[str, str], live: dict[str, str]) -> list[dict]:
    drift = []
    for container in sorted(set(expected) | set(live)):
        want, have = expected.get(container), live.get(container)
        if want is None or have is None or not _same_image(want, have):
            drift.append({"container": container, "expected": want, "live": have})
    return drift


def _unmatched(expected: list[str], live: list[str]) -> list[tuple[str | None, str | None]]:
    left = [ref for ref in expected if not any(_same_image(ref, have) for have in live)]
    right = [ref for ref in live if not any(_same_image(want, ref) for want in expected)]
    return [(want, None) for want in left] + [(None, have) for have in right]


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _containers(obj: dict) -> dict[str, dict]:
    spec = pod_spec(obj) or {}
    found = {}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                rest = {
                    k: v
                    for k, v in container.items()
                    if k not in SERVER_DEFAULTS and k not in ("name", "image")
                }
                found[container.get("name", "")] = _clean(rest)
    return found


def spec_projection(applied_yaml: str, live_objects: dict[tuple[str, str], dict]) -> tuple:
    """(expected, live) YAML texts of the containers of the workloads the YAML applied."""
    expected, live = {}, {}
    for doc in yaml.safe_load_all(applied_yaml or ""):
        if not isinstance(doc, dict) or pod_spec(doc) is None:
            continue
        key = (doc.get("kind", ""), (doc.get("metadata") or {}).get("name", ""))
        label = f"{key[0]}/{key[1]}"
        expected[label] = _containers(doc)
        obj = live_objects.get(key)
        live[label] = _containers(obj) if obj is not None else "not found"
    dump = lambda data: yaml.safe_dump(data, sort_keys=True, default_flow_style=False)  # noqa: E731
    return dump(expected), dump(live)


def service_drift(
    expected: Expected,
    live_images: dict[str, str],
    live_objects: dict[tuple[str, str], dict],
    live_values: str | None,
) -> dict | None:
    """What differs between the last release and the cluster; None when nothing does."""
    if expected.values is not None:
        # Helm: a version's images are keyed by values path, not container: compare the refs.
        images = [
            {"container": "—", "expected": want, "live": have}
            for want, have in _unmatched(list(expected.images.values()), list(live_images.values()))
        ]
    else:
        images = image_drift(expected.images, live_images)
    diff = []
    if expected.yaml is not None:
        want, have = spec_projection(expected.yaml, live_objects)
        diff = unified_diff(want, have, "released", "live")
    elif expected.values is not None and live_values is not None:
        dump = lambda text: yaml.safe_dump(yaml.safe_load(text or "") or {}, sort_keys=True)  # noqa: E731
        diff = unified_diff(dump(expected.values), dump(live_values), "released", "live")
    if not images and not diff:
        return None
    return {
        "release_id": expected.release_id,
        "version": expected.version,
        "images": images,
        "diff": [[line.kind, line.text] for line in diff],
    }


# --- the schedule ------------------------------------------------------------------


def enqueue_sync(env: Environment, user=None) -> JobRun:
    return enqueue(
        "jobs.environments.sync_environment",
        env.id,
        kind=SYNC_KIND,
        title=f"Sync {env.project.key}/{env.name} from cluster {env.cluster.name}",
        target=env,
        user=user,
    )


def schedule_syncs() -> list[JobRun]:
    """Enqueue a sync of each environment with a cluster not synced for ``SYNC_INTERVAL`` s.

    Called by the worker's reaper loop; an environment whose sync is queued or
    running is left alone. ``SYNC_INTERVAL = 0`` turns the schedule off.
    """
    interval = float(current_app.config.get("SYNC_INTERVAL", 300) or 0)
    if interval <= 0:
        return []
    due_before = utcnow() - timedelta(seconds=interval)
    busy = select(JobRun.target_id).where(
        JobRun.kind == SYNC_KIND,
        JobRun.target_type == "environment",
        JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
    )
    due = db.session.scalars(
        select(Environment).where(
            Environment.cluster_id.is_not(None),
            (Environment.synced_at.is_(None)) | (Environment.synced_at < due_before),
            Environment.id.not_in(busy),
        )
    ).all()
    return [enqueue_sync(env) for env in due]
