"""Jobs on environments: read what really runs in the cluster."""

from __future__ import annotations

import yaml

from jobs.helm.releases import helm_status
from jobs.kube.access import ClusterNotFound
from jobs.kube.cluster import read_workload_objects, read_workloads
from jobs.runtime import job_run
from webapp.catalog.drift import expected_of, service_drift
from webapp.catalog.state import forget_deployed, record_deployed
from webapp.catalog.validation import InvalidInput, safe_load_documents, workload_containers
from webapp.extensions import db
from webapp.models import Environment, ProjectKind
from webapp.models.base import utcnow
from webapp.releases.queries import deployed_versions

# Stored templates passed the form's size limit; this only bounds reading an old one.
MAX_TEMPLATE_BYTES = 16 * 1024 * 1024


@job_run
def sync_environment(job_run_id: int, environment_id: int) -> str:
    """Record each service's live images (and, for Helm, chart version and values).

    Where a release deployed the service, also record what differs from it (drift).
    """

    env = db.session.get(Environment, environment_id)
    if env is None:
        raise LookupError("the environment was deleted")
    if env.cluster is None:
        raise ValueError(f"environment {env.name} has no cluster: attach one first")
    access = env.cluster.access()
    live = {(w.kind, w.name): w for w in read_workloads(access, env.namespace)}
    released = {sid: expected_of(row) for sid, row in deployed_versions(env.id).items()}
    objects = {}
    if any(expected.yaml is not None for expected in released.values()):
        objects = read_workload_objects(access, env.namespace)
    found, missing, drifted, skipped = [], [], [], []
    for service in env.project.services:
        try:
            if env.project.kind is ProjectKind.HELM:
                names, chart = _helm_release(access, env.namespace, service.name)
            else:
                names, chart = _template_workloads(service.yaml_template), None
        except InvalidInput as exc:
            # One service saved before its template was checked must not stop the others.
            skipped.append(f"{service.name} ({exc})")
            continue
        images = {c.name: c.image for key in names if key in live for c in live[key].containers}
        if images:
            state = record_deployed(env, service, images, chart=chart)
            found.append(service.name)
            expected = released.get(service.id)
            if expected is not None:
                state.drift = service_drift(expected, images, objects, chart[1] if chart else None)
                state.drift_checked_at = utcnow()
                if state.drift:
                    drifted.append(service.name)
        else:
            forget_deployed(env, service)
            missing.append(service.name)
    env.synced_at = utcnow()
    db.session.commit()
    recorded = ", ".join(found) or "none"
    summary = f"Read {len(live)} workloads in {env.namespace}; recorded {recorded}"
    if missing:
        summary += f"; not running there: {', '.join(missing)}"
    if drifted:
        summary += f"; differs from the last release: {', '.join(drifted)}"
    if skipped:
        summary += f"; skipped, edit them first: {'; '.join(skipped)}"
    return summary


def _template_workloads(template: str | None) -> list[tuple[str, str]]:
    """(kind, name) of the workloads a K8s YAML service's template defines."""

    documents = safe_load_documents(template or "", MAX_TEMPLATE_BYTES, what="Its template")
    return sorted({(kind, name) for kind, name, _, _ in workload_containers(documents)})


def _helm_release(access, namespace: str, release: str):
    """The release's workloads and (chart version, values YAML); nothing when not installed."""

    try:
        status = helm_status(access, namespace, release)
    except ClusterNotFound:
        return [], None
    values = yaml.safe_dump(status.values, sort_keys=False) if status.values else ""
    return status.workloads, (status.chart_version, values)
