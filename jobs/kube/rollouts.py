"""Waiting for rollouts as ``kubectl rollout status`` does, and failing fast on bad pods.

Plain Python over :mod:`jobs.kube.cluster`; no Flask.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from jobs.kube.access import (
    ClusterAccess,
    ClusterError,
    ImagePullFailed,
    RolloutFailed,
    RolloutTimeout,
)
from jobs.kube.cluster import (
    PULL_FAILURES,
    RESTARTED_AT,
    RUN_FAILURES,
    WORKLOAD_KINDS,
    ClusterConnection,
    connect,
    get_workload,
    pod_containers,
)


@dataclass(frozen=True)
class RolloutProgress:
    """One observation of a workload during :func:`wait_for_rollout`."""

    kind: str
    name: str
    done: bool
    message: str
    desired: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.message}"


def rollout_state(obj: dict) -> RolloutProgress:
    """Judge one workload the way ``kubectl rollout status`` does."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    spec, status = obj.get("spec", {}), obj.get("status", {})
    generation = obj["metadata"].get("generation", 0)
    observed = status.get("observedGeneration", 0)

    def progress(done: bool, message: str, desired: int, updated: int, ready: int, avail: int):
        return RolloutProgress(kind, name, done, message, desired, updated, ready, avail)

    if generation > observed:
        return progress(False, "waiting for the new spec to be observed", 0, 0, 0, 0)
    if kind == "Deployment":
        for cond in status.get("conditions") or []:
            if (
                cond.get("type") == "Progressing"
                and cond.get("reason") == "ProgressDeadlineExceeded"
            ):
                raise RolloutFailed(
                    f"Deployment {name} exceeded its progress deadline: {cond.get('message', '')}",
                    reason="ProgressDeadlineExceeded",
                )
        desired = spec.get("replicas", 1)
        counts = (
            status.get("updatedReplicas", 0),
            status.get("readyReplicas", 0),
            status.get("availableReplicas", 0),
        )
        updated, ready, available = counts
        if updated < desired:
            message = f"{updated} of {desired} new replicas updated"
        elif status.get("replicas", 0) > updated:
            message = f"{status['replicas'] - updated} old replicas pending termination"
        elif min(ready, available) < updated:
            message = f"{min(ready, available)} of {updated} updated replicas available"
        else:
            return progress(True, "successfully rolled out", desired, *counts)
        return progress(False, message, desired, *counts)
    if kind == "StatefulSet":
        desired = spec.get("replicas", 1)
        ready = status.get("readyReplicas", 0)
        updated = status.get("updatedReplicas", ready)
        if ready < desired:
            return progress(
                False, f"{ready} of {desired} pods ready", desired, updated, ready, ready
            )
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and status.get("updateRevision") != status.get(
            "currentRevision"
        ):
            message = f"rolling update in progress, {updated} pods at the new revision"
            return progress(False, message, desired, updated, ready, ready)
        return progress(True, "successfully rolled out", desired, desired, ready, ready)
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        updated = status.get("updatedNumberScheduled", 0)
        ready = status.get("numberReady", 0)
        available = status.get("numberAvailable", 0)
        if updated < desired:
            message = f"{updated} of {desired} new pods updated"
        elif available < desired:
            message = f"{available} of {desired} updated pods available"
        else:
            return progress(True, "successfully rolled out", desired, updated, ready, available)
        return progress(False, message, desired, updated, ready, available)
    raise ClusterError(f"cannot wait for the rollout of a {kind}; only {WORKLOAD_KINDS}")


def _label_selector(selector: dict) -> str:
    """A LabelSelector as the ``labelSelector`` query string."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def list_pods(conn: ClusterConnection, namespace: str, selector: str) -> list[dict]:
    listing = conn.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        query=[("labelSelector", selector)] if selector else [],
        what=f"listing pods in namespace {namespace!r}",
    )
    return listing.get("items", [])


def pod_failure(pod: dict) -> tuple[str, str, str] | None:
    """(container, reason, message) of the first container that cannot run."""
    status = pod.get("status", {})
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for cstatus in statuses:
        waiting = (cstatus.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in PULL_FAILURES or reason in RUN_FAILURES:
            return cstatus.get("name", ""), reason, waiting.get("message", "")
    return None


def _restarted_at(obj: dict) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)


def _check_pods(conn: ClusterConnection, namespace: str, obj: dict) -> None:
    """Raise :class:`RolloutFailed` when a pod of the current template cannot run."""
    selector = _label_selector(obj.get("spec", {}).get("selector") or {})
    if not selector:
        return
    template_images = {c["name"]: c.get("image") for c in pod_containers(obj)}
    restarted = _restarted_at(obj.get("spec", {}).get("template") or {})
    for pod in list_pods(conn, namespace, selector):
        pod_images = {
            c["name"]: c.get("image") for c in pod_containers({"spec": {"template": pod}})
        }
        if pod_images != template_images:
            continue
        if restarted and _restarted_at(pod) != restarted:
            continue  # a pod from before a rollout restart: the new pods decide

        failure = pod_failure(pod)
        if failure is None:
            continue
        container, reason, message = failure
        pod_name = pod["metadata"]["name"]
        error = ImagePullFailed if reason in PULL_FAILURES else RolloutFailed
        raise error(
            f"{obj['kind']} {obj['metadata']['name']} in namespace {namespace!r} on "
            f"{conn.server} failed: pod {pod_name} container {container} is {reason}"
            + (f": {message}" if message else ""),
            reason=reason,
            pod=pod_name,
            pod_message=message,
        )


def wait_for_rollout(
    cluster: ClusterAccess,
    namespace: str,
    workloads: Iterable[tuple[str, str]],
    *,
    timeout: float,
    on_progress: Callable[[RolloutProgress], None] | None = None,
    poll_interval: float = 0.5,
) -> list[RolloutProgress]:
    """Wait until every (kind, name) has rolled out, as ``kubectl rollout status``.

    Success: the new generation is observed and updated = ready = available =
    desired. A pod of the new template in ImagePullBackOff, ErrImagePull,
    ErrImageNeverPull or CrashLoopBackOff fails at once (:class:`ImagePullFailed`
    or :class:`RolloutFailed` with the pod's message). :class:`RolloutTimeout`
    at the deadline. ``on_progress`` gets each changed observation.
    """
    pending = list(dict.fromkeys(workloads))
    deadline = time.monotonic() + timeout
    last: dict[tuple[str, str], RolloutProgress] = {}
    finished: list[RolloutProgress] = []
    with connect(cluster) as conn:
        while True:
            for key in list(pending):
                obj = get_workload(conn, namespace, *key)
                state = rollout_state(obj)
                if state != last.get(key) and on_progress is not None:
                    on_progress(state)
                last[key] = state
                if state.done:
                    pending.remove(key)
                    finished.append(state)
                else:
                    _check_pods(conn, namespace, obj)
            if not pending:
                return finished
            if time.monotonic() >= deadline:
                waiting = "; ".join(str(last[key]) for key in pending)
                raise RolloutTimeout(
                    f"rollout in namespace {namespace!r} on {conn.server} did not finish "
                    f"within {timeout:g}s: {waiting}"
                )
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
