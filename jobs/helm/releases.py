"""Helm releases in a cluster through ``helm_python`` (Helm v4's Go SDK).

``helm_python`` is imported inside each function, never at module top: a Go
runtime loaded before RQ forks its work-horse can deadlock the child. Helm
keeps its releases in the cluster (Secrets ``sh.helm.release.v1.*``), so the
cluster's own ``helm history`` shows what Slipway did.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from jobs.kube.access import (
    ClusterAccess,
    ClusterConfigInvalid,
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterUnauthorized,
    ClusterUnreachable,
    RolloutTimeout,
)
from jobs.kube.cluster import WORKLOAD_KINDS, server_address
from jobs.kube.kubeconfig_policy import KubeconfigRefused, check_kubeconfig

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class HelmChartError(ClusterError):
    """The chart or its values cannot be loaded or rendered."""


class HelmReleaseFailed(ClusterError):
    """Helm could not complete the release action."""


@dataclass(frozen=True)
class HelmRevision:
    """One entry of a release's history."""

    revision: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str
    updated: str
    description: str = ""


@dataclass(frozen=True)
class HelmRelease:
    """A release's current revision: what is deployed and with which values."""

    name: str
    namespace: str
    revision: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str
    updated: str
    # Values may hold passwords and manifests are long: keep both out of reprs and logs.
    values: dict[str, Any] = field(default_factory=dict, repr=False)
    manifest: str = field(default="", repr=False)

    @property
    def workloads(self) -> list[tuple[str, str]]:
        """(kind, name) of the Deployments, StatefulSets and DaemonSets it renders."""
        found = []
        for doc in yaml.safe_load_all(self.manifest or ""):
            if isinstance(doc, dict) and doc.get("kind") in WORKLOAD_KINDS:
                found.append((doc["kind"], doc["metadata"]["name"]))
        return found


def _revision(summary: dict) -> HelmRevision:
    return HelmRevision(
        revision=int(summary.get("revision", 0)),
        status=str(summary.get("status", "")),
        chart_name=str(summary.get("chart_name", "")),
        chart_version=str(summary.get("chart_version", "")),
        app_version=str(summary.get("app_version", "")),
        updated=str(summary.get("deployed_at", "")),
        description=str(summary.get("description", "")),
    )


def _release(summary: dict, values: dict[str, Any]) -> HelmRelease:
    return HelmRelease(
        name=str(summary.get("name", "")),
        namespace=str(summary.get("namespace", "")),
        revision=int(summary.get("revision", 0)),
        status=str(summary.get("status", "")),
        chart_name=str(summary.get("chart_name", "")),
        chart_version=str(summary.get("chart_version", "")),
        app_version=str(summary.get("app_version", "")),
        updated=str(summary.get("deployed_at", "")),
        values=values or {},
        manifest=str(summary.get("manifest", "")),
    )


def _error(exc: Exception, server: str, what: str) -> ClusterError:
    """Map a ``helm_python`` error to the specific :class:`ClusterError`."""
    import helm_python

    detail = str(getattr(exc, "detail", "") or exc)
    lowered = detail.lower()
    # People read this on pages; a server that is not Kubernetes may put a whole body here.
    detail = detail if len(detail) <= 500 else detail[:500] + "…"
    where = f"{what} on {server}"
    if isinstance(exc, helm_python.HelmNotFoundError) or "release: not found" in lowered:
        return ClusterNotFound(f"{where}: {detail}")
    if isinstance(
        exc,
        (
            helm_python.HelmChartLoadError,
            helm_python.HelmChartInvalidError,
            helm_python.HelmValuesError,
            helm_python.HelmRenderError,
        ),
    ):
        return HelmChartError(f"{where}: the chart or its values are invalid: {detail}")
    if "unauthorized" in lowered:
        return ClusterUnauthorized(
            f"{where}: the cluster rejected the credentials: {detail}. "
            "Update the cluster's kubeconfig."
        )
    if "forbidden" in lowered:
        return ClusterForbidden(
            f"{where}: {detail}. Grant the kubeconfig's user that permission (RBAC)."
        )
    if "context deadline exceeded" in lowered or "timed out" in lowered:
        return RolloutTimeout(f"{where} did not finish in time: {detail}")
    if "another operation" in lowered or "conflict" in lowered or "has been modified" in lowered:
        return ClusterConflict(
            f"{where}: {detail}. Another Helm operation or writer is busy with this release; "
            "retry when it is done."
        )
    if isinstance(exc, helm_python.HelmKubeError) or "connection refused" in lowered:
        return ClusterUnreachable(f"cannot reach the Kubernetes API at {server} ({what}): {detail}")
    return HelmReleaseFailed(f"{where} failed: {detail}")


@contextlib.contextmanager
def _helm(cluster: ClusterAccess, namespace: str, what: str) -> Iterator[Any]:
    """A ``helm_python.Config`` for the cluster; its errors become ClusterErrors."""
    import helm_python

    if cluster.in_cluster:
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        with open(os.path.join(SERVICE_ACCOUNT_DIR, "token")) as token_file:
            token = token_file.read().strip()
        options: dict[str, Any] = {
            "kube_apiserver": f"https://{host}:{port}",
            "kube_token": token,
            "kube_ca_file": os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
        }
    else:
        # Helm's Go client would run exec plugins and read files the kubeconfig names.
        try:
            check_kubeconfig(cluster.kubeconfig or "")
        except KubeconfigRefused as exc:
            raise ClusterConfigInvalid(f"cannot use the cluster's kubeconfig: {exc}") from exc
        # helm_python writes the content to a private temp file, removed on close.
        options = {"kubeconfig_content": cluster.kubeconfig, "kube_context": cluster.context}
    server = server_address(cluster)
    try:
        with helm_python.Config(namespace=namespace, **options) as config:
            yield config
    except helm_python.HelmError as exc:
        raise _error(exc, server, what) from exc


def _load_chart(chart_archive: bytes | str | os.PathLike[str]) -> Any:
    import helm_python

    if isinstance(chart_archive, bytes):
        return helm_python.Chart.load_archive(chart_archive)
    return helm_python.Chart.load(chart_archive)


def _wait_mode(wait: bool) -> str | None:
    # "legacy" polls the objects; the "watcher" needs WatchList (initial-events-end
    # bookmarks), which the sandbox cluster does not send, so it never sees readiness.
    return "legacy" if wait else None


def helm_upgrade(
    cluster: ClusterAccess,
    namespace: str,
    release: str,
    chart_archive: bytes | str | os.PathLike[str],
    values: dict[str, Any] | None = None,
    wait: bool = False,
    timeout: float = 300,
    *,
    description: str | None = None,
) -> HelmRelease:
    """``helm upgrade --install``: install the first revision or upgrade to a new one.

    ``chart_archive`` is the chart's .tgz bytes (or a path). Creates the
    namespace if needed. With ``wait`` Helm waits for the resources to be ready
    and marks the revision failed at ``timeout``; a deploy job gets quicker and
    clearer failures (CrashLoopBackOff at once, with the pod's message) from
    ``wait=False`` then :func:`jobs.kube.rollouts.wait_for_rollout` on ``.workloads``.
    """
    import helm_python

    what = f"upgrading Helm release {release!r} in namespace {namespace!r}"
    with _helm(cluster, namespace, what) as config, _load_chart(chart_archive) as chart:
        options: dict[str, Any] = {
            "namespace": namespace,
            "timeout": max(1, int(timeout)),
            "wait": _wait_mode(wait),
            "description": description,
        }
        try:
            config.history(release, max_revisions=1)
        except helm_python.HelmNotFoundError:
            summary = config.install(chart, release, values or {}, create_namespace=True, **options)
        else:
            summary = config.upgrade(chart, release, values or {}, reset_values=True, **options)
        return _release(summary, dict(values or {}))


def helm_rollback(
    cluster: ClusterAccess,
    namespace: str,
    release: str,
    revision: int | None = None,
    *,
    wait: bool = False,
    timeout: float = 300,
) -> HelmRelease:
    """Roll ``release`` back to ``revision`` (default: the previous one) as a new revision."""
    what = f"rolling back Helm release {release!r} in namespace {namespace!r}"
    with _helm(cluster, namespace, what) as config:
        config.rollback(
            release, version=revision, timeout=max(1, int(timeout)), wait=_wait_mode(wait)
        )
    return helm_status(cluster, namespace, release)


def helm_history(cluster: ClusterAccess, namespace: str, release: str) -> list[HelmRevision]:
    """The release's revisions, oldest first."""
    what = f"reading the history of Helm release {release!r} in namespace {namespace!r}"
    with _helm(cluster, namespace, what) as config:
        return sorted((_revision(s) for s in config.history(release)), key=lambda r: r.revision)


def helm_status(
    cluster: ClusterAccess, namespace: str, release: str, revision: int | None = None
) -> HelmRelease:
    """The deployed chart, revision, status and user-supplied values of ``release``."""
    what = f"reading Helm release {release!r} in namespace {namespace!r}"
    with _helm(cluster, namespace, what) as config:
        summary = config.status(release, revision=revision)
        values = config.get_values(release, revision=summary.get("revision"))
    return _release(summary, values)
