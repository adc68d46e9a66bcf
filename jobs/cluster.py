"""The cluster layer: connect to a Kubernetes API and do Slipway's work there.

Plain Python over the official ``kubernetes`` client; no Flask. Every public
function takes a :class:`ClusterAccess` (what a Cluster row decrypts to) and
raises a :class:`ClusterError` subclass whose message names the API server,
the namespace and the object, so a release engineer knows what to fix.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

#: Seconds for connecting to and reading from the API server on each request.
REQUEST_TIMEOUT = (5, 30)


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster: kubeconfig text, or the pod's service account."""

    kubeconfig: str | None = field(default=None, repr=False)
    in_cluster: bool = False
    context: str | None = None

    def __post_init__(self) -> None:
        if not self.in_cluster and not self.kubeconfig:
            raise ClusterConfigInvalid("a cluster needs a kubeconfig or in-cluster access")


class ClusterError(Exception):
    """A cluster operation failed; the message says what and where."""


class ClusterConfigInvalid(ClusterError):
    """The kubeconfig (or in-cluster environment) cannot be used."""


class ClusterUnreachable(ClusterError):
    """The API server did not answer (DNS, refused, TLS, timeout)."""


class ClusterUnauthorized(ClusterError):
    """The API server rejected the credentials (HTTP 401)."""


class ClusterForbidden(ClusterError):
    """The credentials lack a permission (HTTP 403)."""


class ClusterNotFound(ClusterError):
    """The namespace or object does not exist (HTTP 404)."""


class ClusterConflict(ClusterError):
    """Someone else changed the object first (HTTP 409)."""


class RolloutTimeout(ClusterError):
    """The deadline passed before the work finished."""


class RolloutFailed(ClusterError):
    """A pod cannot run; ``reason`` and ``pod_message`` come from its status."""

    def __init__(self, message: str, *, reason: str = "", pod: str = "", pod_message: str = ""):
        super().__init__(message)
        self.reason = reason
        self.pod = pod
        self.pod_message = pod_message


class ImagePullFailed(RolloutFailed):
    """A container image cannot be pulled (ErrImagePull, ImagePullBackOff, ...)."""


class ClusterConnection:
    """An open ``ApiClient`` for one cluster; use as a context manager."""

    def __init__(self, access: ClusterAccess) -> None:
        self._private_dir: str | None = None
        configuration = k8s.Configuration()
        try:
            if access.in_cluster:
                k8s_config.load_incluster_config(client_configuration=configuration)
            else:
                parsed = _parse_kubeconfig(access.kubeconfig or "")
                # Certificates from the kubeconfig go to 0600 files in a 0700
                # directory of our own, removed again by close().
                self._private_dir = tempfile.mkdtemp(prefix="slipway-kube-")
                _write_credential_files(parsed, self._private_dir)
                k8s_config.load_kube_config_from_dict(
                    parsed,
                    context=access.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, ValueError, KeyError, TypeError, OSError) as exc:
            self.close()
            raise ClusterConfigInvalid(f"cannot use the cluster's kubeconfig: {exc}") from exc
        self.server: str = configuration.host
        self.api = k8s.ApiClient(configuration)
        #: API resource lists by base path (``/apis/apps/v1``), filled on demand.
        self.discovery: dict[str, dict] = {}

    def close(self) -> None:
        """Close the HTTP pool and remove any credential files written for it."""
        api = getattr(self, "api", None)
        if api is not None:
            api.close()
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    def __enter__(self) -> ClusterConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Translate client exceptions raised inside into :class:`ClusterError`."""
        try:
            yield
        except ApiException as exc:
            raise api_error(exc, self.server, what) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise unreachable_error(exc, self.server, what) from exc
        except OSError as exc:
            raise unreachable_error(exc, self.server, what) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: list[tuple[str, str]] | None = None,
        body: object = None,
        content_type: str = "application/json",
        raw: bool = False,
    ) -> Any:
        """One authenticated API call; the decoded JSON answer (bytes if ``raw``)."""
        with self.errors(what):
            request = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params={"Accept": "application/json, */*", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            response.read()
            answer_type = "bytearray" if raw else "object"
            return self.api.response_deserialize(response, {"2XX": answer_type}).data


_CREDENTIAL_DATA = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key")),
}


def _write_credential_files(kubeconfig: dict, directory: str) -> None:
    """Move ``*-data`` certificates and keys into 0600 files under ``directory``.

    The client library would otherwise write them to a process-wide cache of
    temp files shared between connections and kept until the process exits.
    """
    for section, (inner, keys) in _CREDENTIAL_DATA.items():
        for entry in kubeconfig.get(section) or []:
            settings = (entry or {}).get(inner) or {}
            for key in keys:
                data = settings.pop(f"{key}-data", None)
                if data is None:
                    continue
                fd, path = tempfile.mkstemp(dir=directory)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(base64.standard_b64decode(data))
                settings[key] = path


def _parse_kubeconfig(text: str) -> dict:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClusterConfigInvalid(f"the kubeconfig is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ClusterConfigInvalid("the kubeconfig is not a YAML mapping")
    return loaded


def server_address(access: ClusterAccess) -> str:
    """The API server a ClusterAccess points at, for messages (no request made)."""
    if access.in_cluster:
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        return f"https://{host}:{os.environ.get('KUBERNETES_SERVICE_PORT', '443')}"
    try:
        config = _parse_kubeconfig(access.kubeconfig or "")
        context_name = access.context or config.get("current-context")
        context = next(c for c in config["contexts"] if c["name"] == context_name)["context"]
        cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])
        return str(cluster["cluster"]["server"])
    except (ClusterConfigInvalid, KeyError, StopIteration, TypeError):
        return "the cluster"


def connect(access: ClusterAccess) -> ClusterConnection:
    """Open a connection (no request is made until it is used)."""
    return ClusterConnection(access)


def _status_message(exc: ApiException) -> str:
    """The API server's own explanation from a Status body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or f"HTTP {exc.status}")


def api_error(exc: ApiException, server: str, what: str) -> ClusterError:
    """Map an API error response to the specific :class:`ClusterError`."""
    detail = _status_message(exc)
    status = exc.status
    if status == 401:
        return ClusterUnauthorized(
            f"{server} rejected the credentials while {what}: {detail}. "
            "Update the cluster's kubeconfig with a valid token or certificate."
        )
    if status == 403:
        return ClusterForbidden(
            f"{server} forbids {what}: {detail}. "
            "Grant the kubeconfig's user that permission (RBAC) or use another user."
        )
    if status == 404:
        return ClusterNotFound(f"not found on {server} while {what}: {detail}")
    if status == 409:
        return ClusterConflict(
            f"conflict on {server} while {what}: {detail}. "
            "Another writer changed it at the same time; retry the step."
        )
    return ClusterError(f"{server} answered HTTP {status} while {what}: {detail}")


def unreachable_error(exc: BaseException, server: str, what: str) -> ClusterUnreachable:
    """Describe a transport failure (refused, DNS, TLS, timeout)."""
    reason = getattr(exc, "reason", None) or exc
    return ClusterUnreachable(
        f"cannot reach the Kubernetes API at {server} while {what}: {reason}. "
        "Check the server address in the kubeconfig, the network path and the certificate."
    )


def server_version(cluster: ClusterAccess) -> str:
    """The API server's version, e.g. ``v1.30.0`` or ``v1.32.0 (sandbox)``: "Test connection".

    ``/version`` is often public, so discovery (``/api``, which needs an
    authenticated user) is read too: bad credentials fail here, not at deploy.
    """
    with connect(cluster) as conn:
        info = conn.request("GET", "/version", what="reading the server version")
        conn.request("GET", "/api", what="checking the credentials")
    version = str(info.get("gitVersion") or "unknown")
    if info.get("gitCommit") == "sandbox" and "sandbox" not in version:
        # The emulator marks itself in gitCommit; the web app shows it as a sandbox.
        version += " (sandbox)"
    return version


# --- objects and discovery -------------------------------------------------

FIELD_MANAGER = "slipway"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
PULL_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
)
RUN_FAILURES = frozenset({"CrashLoopBackOff", "CreateContainerConfigError", "RunContainerError"})


@dataclass(frozen=True)
class Container:
    """One container of a workload's pod template."""

    name: str
    image: str


@dataclass(frozen=True)
class Workload:
    """A workload in a namespace with its current images and replica counts."""

    kind: str
    name: str
    containers: list[Container]
    replicas: int
    ready: int


@dataclass(frozen=True)
class AppliedObject:
    """What server-side apply left in the cluster for one manifest document."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    generation: int | None


@dataclass(frozen=True)
class _ResourceInfo:
    base: str
    plural: str
    namespaced: bool


def _api_base(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def _resource(conn: ClusterConnection, api_version: str, kind: str) -> _ResourceInfo:
    """Find the REST resource serving ``kind`` through discovery (cached per connection)."""
    cache = conn.discovery
    base = _api_base(api_version)
    if base not in cache:
        try:
            cache[base] = conn.request("GET", base, what=f"discovering {api_version}")
        except ClusterNotFound as exc:
            raise ClusterNotFound(
                f"{conn.server} does not serve API {api_version} (needed for {kind})"
            ) from exc
    for entry in cache[base].get("resources", []):
        if entry.get("kind") == kind and "/" not in entry.get("name", ""):
            return _ResourceInfo(base, entry["name"], bool(entry.get("namespaced")))
    raise ClusterNotFound(f"{conn.server} serves no kind {kind} in {api_version}")


def _object_path(conn: ClusterConnection, api_version: str, kind: str, namespace: str) -> str:
    """The collection path for ``kind`` (in ``namespace`` when it is namespaced)."""
    info = _resource(conn, api_version, kind)
    if info.namespaced:
        return f"{info.base}/namespaces/{namespace}/{info.plural}"
    return f"{info.base}/{info.plural}"


def parse_manifests(manifests: str | Iterable[dict]) -> list[dict]:
    """Split a multi-document YAML (or take dicts); skip empty documents and ``List``s flat."""
    if isinstance(manifests, str):
        try:
            documents = list(yaml.safe_load_all(manifests))
        except yaml.YAMLError as exc:
            raise ClusterError(f"the manifests are not valid YAML: {exc}") from exc
    else:
        documents = list(manifests)
    objects: list[dict] = []
    for doc in documents:
        if not doc:
            continue
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
            raise ClusterError("every manifest document needs apiVersion and kind")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(parse_manifests(doc["items"]))
            continue
        if not (doc.get("metadata") or {}).get("name"):
            raise ClusterError(f"a {doc['kind']} manifest has no metadata.name")
        objects.append(doc)
    return objects


def _describe(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {name!r}" + (f" in namespace {namespace!r}" if namespace else "")


def apply_manifests(
    cluster: ClusterAccess,
    namespace: str,
    manifests: str | Iterable[dict],
    *,
    force: bool = True,
    create_namespace: bool = False,
) -> list[AppliedObject]:
    """Server-side apply every object (field manager ``slipway``) into ``namespace``.

    Namespaced objects are put in ``namespace`` whatever their manifest says.
    With ``force`` Slipway takes over fields another manager set; without it
    such a conflict raises :class:`ClusterConflict` naming the other manager.
    With ``create_namespace`` the namespace is applied first.
    """
    objects = parse_manifests(manifests)
    if create_namespace:
        namespace_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        objects.insert(0, namespace_doc)
    applied = []
    with connect(cluster) as conn:
        for obj in objects:
            api_version, kind, name = obj["apiVersion"], obj["kind"], obj["metadata"]["name"]
            info = _resource(conn, api_version, kind)
            body = dict(obj, metadata=dict(obj["metadata"]))
            if info.namespaced:
                body["metadata"]["namespace"] = namespace
            else:
                body["metadata"].pop("namespace", None)
            ns = namespace if info.namespaced else None
            path = _object_path(conn, api_version, kind, namespace) + f"/{name}"
            query = [("fieldManager", FIELD_MANAGER), ("force", "true" if force else "false")]
            result = conn.request(
                "PATCH",
                path,
                query=query,
                body=body,
                content_type="application/apply-patch+yaml",
                what=f"applying {_describe(kind, name, ns)}",
            )
            meta = result.get("metadata", {}) if isinstance(result, dict) else {}
            applied.append(AppliedObject(api_version, kind, name, ns, meta.get("generation")))
    return applied


def _pod_spec(obj: dict) -> dict:
    spec = obj.get("spec", {})
    if obj.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})


def _containers(obj: dict) -> list[dict]:
    pod = _pod_spec(obj)
    return list(pod.get("initContainers") or []) + list(pod.get("containers") or [])


def _workload(obj: dict) -> Workload:
    status = obj.get("status", {})
    if obj["kind"] == "DaemonSet":
        replicas = status.get("desiredNumberScheduled", 0)
        ready = status.get("numberReady", 0)
    else:
        replicas = obj.get("spec", {}).get("replicas", 1)
        ready = status.get("readyReplicas", 0)
    containers = [Container(c["name"], c.get("image", "")) for c in _containers(obj)]
    return Workload(obj["kind"], obj["metadata"]["name"], containers, replicas, ready)


def read_workloads(cluster: ClusterAccess, namespace: str) -> list[Workload]:
    """Deployments, StatefulSets and DaemonSets in ``namespace`` with their images."""
    workloads = []
    with connect(cluster) as conn:
        for kind in WORKLOAD_KINDS:
            path = _object_path(conn, "apps/v1", kind, namespace)
            listing = conn.request("GET", path, what=f"listing {kind}s in {namespace!r}")
            for item in listing.get("items", []):
                item.setdefault("kind", kind)
                workloads.append(_workload(item))
    return sorted(workloads, key=lambda w: (w.kind, w.name))


def _get_workload(conn: ClusterConnection, namespace: str, kind: str, name: str) -> dict:
    api_version = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    path = _object_path(conn, api_version, kind, namespace) + f"/{name}"
    obj = conn.request("GET", path, what=f"reading {_describe(kind, name, namespace)}")
    obj.setdefault("kind", kind)
    obj.setdefault("apiVersion", api_version)
    return obj


def set_images(
    cluster: ClusterAccess,
    namespace: str,
    workloads: Iterable[tuple[str, str]],
    images: Mapping[str, str],
    *,
    attempts: int = 5,
) -> list[AppliedObject]:
    """Set the image of the named containers (``images``: container -> image) only.

    Each workload is read, changed and written back with its resourceVersion,
    so a concurrent writer is never overwritten: on HTTP 409 the change is
    re-read and retried, and after ``attempts`` conflicts :class:`ClusterConflict`
    is raised. Containers not named in ``images`` keep their image; a workload
    with none of the named containers raises :class:`ClusterNotFound`.
    """
    changed = []
    with connect(cluster) as conn:
        for kind, name in workloads:
            changed.append(_set_workload_images(conn, namespace, kind, name, images, attempts))
    return changed


def _set_workload_images(
    conn: ClusterConnection,
    namespace: str,
    kind: str,
    name: str,
    images: Mapping[str, str],
    attempts: int,
) -> AppliedObject:
    what = _describe(kind, name, namespace)
    attempt = 1
    while True:
        obj = _get_workload(conn, namespace, kind, name)
        matched = [c for c in _containers(obj) if c.get("name") in images]
        if not matched:
            raise ClusterNotFound(
                f"{what} on {conn.server} has none of the containers {sorted(images)}"
            )
        for container in matched:
            container["image"] = images[container["name"]]
        path = _object_path(conn, obj["apiVersion"], kind, namespace) + f"/{name}"
        try:
            result = conn.request(
                "PUT",
                path,
                body=obj,
                query=[("fieldManager", FIELD_MANAGER)],
                what=f"updating the images of {what}",
            )
        except ClusterConflict as exc:
            if attempt >= attempts:
                raise ClusterConflict(f"{exc} (gave up after {attempts} attempts)") from exc
            time.sleep(0.05 * attempt)
            attempt += 1
            continue
        meta = result.get("metadata", {})
        return AppliedObject(obj["apiVersion"], kind, name, namespace, meta.get("generation"))


# --- rollouts ---------------------------------------------------------------


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


def _list_pods(conn: ClusterConnection, namespace: str, selector: str) -> list[dict]:
    listing = conn.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        query=[("labelSelector", selector)] if selector else [],
        what=f"listing pods in namespace {namespace!r}",
    )
    return listing.get("items", [])


def _pod_failure(pod: dict) -> tuple[str, str, str] | None:
    """(container, reason, message) of the first container that cannot run."""
    status = pod.get("status", {})
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for cstatus in statuses:
        waiting = (cstatus.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in PULL_FAILURES or reason in RUN_FAILURES:
            return cstatus.get("name", ""), reason, waiting.get("message", "")
    return None


def _check_pods(conn: ClusterConnection, namespace: str, obj: dict) -> None:
    """Raise :class:`RolloutFailed` when a pod of the current template cannot run."""
    selector = _label_selector(obj.get("spec", {}).get("selector") or {})
    if not selector:
        return
    template_images = {c["name"]: c.get("image") for c in _containers(obj)}
    for pod in _list_pods(conn, namespace, selector):
        pod_images = {c["name"]: c.get("image") for c in _containers({"spec": {"template": pod}})}
        if pod_images != template_images:
            continue
        failure = _pod_failure(pod)
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
                obj = _get_workload(conn, namespace, *key)
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


# --- test jobs --------------------------------------------------------------


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
    return _list_pods(conn, namespace, f"slipway.io/test-job={name}")


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
            failure = _pod_failure(pod)
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
