"""Test Jobs: run a Kubernetes Job in a namespace, wait, keep its logs, delete it.

Plain Python over :mod:`jobs.kube.cluster`; no Flask.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jobs.kube.access import ClusterAccess, ClusterError, ClusterNotFound
from jobs.kube.cluster import FIELD_MANAGER, PULL_FAILURES, ClusterConnection, connect
from jobs.kube.rollouts import list_pods, pod_failure


@dataclass(frozen=True)
class TestJobResult:
    """How a test Job ended: ``passed``, ``failed`` or ``timeout``, with its logs."""

    __test__ = False  # not a pytest test class

    status: str
    job_name: str
    logs: str
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


MAX_LOG_BYTES = 256 * 1024


def run_test_job(
    cluster: ClusterAccess,
    namespace: str,
    *,
    image: str,
    command: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    name_prefix: str = "slipway-test",
    on_progress: Callable[[str], None] | None = None,
    poll_interval: float = 0.5,
) -> TestJobResult:
    """Run ``image`` once as a Job, wait for it, collect its logs, then delete it.

    The Job has no retries (``backoffLimit: 0``). A pod whose image cannot be
    pulled fails the test at once instead of waiting for the deadline.
    """
    name = f"{name_prefix}-{secrets.token_hex(4)}"
    container: dict[str, Any] = {"name": "test", "image": image}
    if command:
        container["command"] = list(command)
    if env:
        container["env"] = [{"name": k, "value": str(v)} for k, v in env.items()]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"slipway.io/test-job": name}},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }
    # The cluster stops a hung test on its own too, should this worker die.
    job["spec"]["activeDeadlineSeconds"] = max(1, int(timeout)) + 60
    jobs_path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    what = f"Job {name!r} in namespace {namespace!r}"
    with connect(cluster) as conn:
        conn.request("POST", jobs_path, body=job, what=f"creating test {what}")
        try:
            status, message = _wait_for_job(
                conn, namespace, name, timeout, on_progress, poll_interval
            )
            logs = _job_logs(conn, namespace, name)
        finally:
            _delete_job(conn, namespace, name)
    return TestJobResult(status, name, logs, message)


def _job_pods(conn: ClusterConnection, namespace: str, name: str) -> list[dict]:
    return list_pods(conn, namespace, f"slipway.io/test-job={name}")


def _wait_for_job(
    conn: ClusterConnection,
    namespace: str,
    name: str,
    timeout: float,
    on_progress: Callable[[str], None] | None,
    poll_interval: float,
) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"
    last = ""
    while True:
        job = conn.request("GET", path, what=f"reading test Job {name!r}")
        status = job.get("status", {})
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        failed_cond = conditions.get("Failed") or {}
        if status.get("succeeded", 0) >= 1:
            return "passed", "the test Job succeeded"
        if status.get("failed", 0) >= 1 or failed_cond.get("status") == "True":
            detail = failed_cond.get("message") or "its container exited with an error"
            return "failed", f"the test Job failed: {detail}"
        for pod in _job_pods(conn, namespace, name):
            failure = pod_failure(pod)
            if failure and failure[1] in PULL_FAILURES:
                container, reason, message = failure
                return "failed", f"the test image cannot be pulled ({reason}): {message}"
        summary = f"active={status.get('active', 0)}"
        if on_progress is not None and summary != last:
            on_progress(f"test Job {name}: {summary}")
        last = summary
        if time.monotonic() >= deadline:
            return "timeout", f"the test Job did not finish within {timeout:g}s"
        time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))


def _job_logs(conn: ClusterConnection, namespace: str, name: str) -> str:
    parts = []
    for pod in _job_pods(conn, namespace, name):
        pod_name = pod["metadata"]["name"]
        try:
            data = conn.request(
                "GET",
                f"/api/v1/namespaces/{namespace}/pods/{pod_name}/log",
                query=[("limitBytes", str(MAX_LOG_BYTES))],
                what=f"reading the logs of pod {pod_name!r}",
                raw=True,
            )
        except ClusterError as exc:
            data = f"(no logs: {exc})".encode()
        parts.append(bytes(data).decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _delete_job(conn: ClusterConnection, namespace: str, name: str) -> None:
    """Delete the Job and its pods; a Job already gone is fine."""
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    with contextlib.suppress(ClusterNotFound):
        conn.request(
            "DELETE",
            f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
            body=body,
            what=f"deleting test Job {name!r}",
        )
    for pod in _job_pods(conn, namespace, name):
        with contextlib.suppress(ClusterNotFound):
            conn.request(
                "DELETE",
                f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}",
                what="deleting a test pod",
            )
