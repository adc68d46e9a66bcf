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
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from jobs.kube.access import (
    ClusterAccess,
    ClusterConfigInvalid,
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterUnauthorized,
    ClusterUnreachable,
)
from jobs.kube.kubeconfig_policy import KubeconfigRefused, check_kubeconfig_data

_log = logging.getLogger(__name__)

#: Seconds for connecting to and reading from the API server on each request.
REQUEST_TIMEOUT = (5, 30)


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
                # Again here, not only at save: a row may predate the rule.
                check_kubeconfig_data(parsed)
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
        except KubeconfigRefused as exc:
            self.close()
            raise ClusterConfigInvalid(f"cannot use the cluster's kubeconfig: {exc}") from exc
        except ConfigException as exc:
            # Structural complaints (a missing context); with inline credentials only,
            # the client has read no file that could be quoted.
            self.close()
            raise ClusterConfigInvalid(f"cannot use the cluster's kubeconfig: {exc}") from exc
        except (ValueError, KeyError, TypeError, OSError) as exc:
            self.close()
            # The text may quote credentials: log it only.
            _log.warning("kubeconfig rejected by the Kubernetes client: %s", exc)
            raise ClusterConfigInvalid(
                "cannot use the cluster's kubeconfig: the Kubernetes client refused it "
                f"({exc.__class__.__name__}). Check its contexts, server and credentials."
            ) from exc
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
    # Only a Kubernetes Status explains itself; any other body (a service that is
    # not an API server) stays out of messages, which people read on pages.
    if isinstance(body, dict) and body.get("kind") == "Status" and body.get("message"):
        return str(body["message"])[:300]
    return f"HTTP {exc.status}"


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
    git_version = info.get("gitVersion") if isinstance(info, dict) else None
    if not isinstance(git_version, str) or not re.match(r"^v?\d+\.\d+", git_version):
        raise ClusterError(
            f"{conn.server} does not answer like a Kubernetes API server (no version at "
            "/version). Check the server address in the cluster's kubeconfig."
        )
    version = git_version[:64]
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


def pod_containers(obj: dict) -> list[dict]:
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
    containers = [Container(c["name"], c.get("image", "")) for c in pod_containers(obj)]
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


def read_workload_objects(cluster: ClusterAccess, namespace: str) -> dict[tuple[str, str], dict]:
    """(kind, name) -> the live object of every Deployment, StatefulSet and DaemonSet."""
    objects = {}
    with connect(cluster) as conn:
        for kind in WORKLOAD_KINDS:
            path = _object_path(conn, "apps/v1", kind, namespace)
            listing = conn.request("GET", path, what=f"listing {kind}s in {namespace!r}")
            for item in listing.get("items", []):
                item.setdefault("kind", kind)
                objects[(kind, item["metadata"]["name"])] = item
    return objects


def get_workload(conn: ClusterConnection, namespace: str, kind: str, name: str) -> dict:
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
        obj = get_workload(conn, namespace, kind, name)
        matched = [c for c in pod_containers(obj) if c.get("name") in images]
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


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restart_rollout(
    cluster: ClusterAccess,
    namespace: str,
    workloads: Iterable[tuple[str, str]],
    *,
    at: str,
) -> list[AppliedObject]:
    """``kubectl rollout restart``: stamp the pod template with ``restartedAt`` = ``at``.

    The changed template starts a new rollout (new pods) even when the images are
    unchanged, e.g. after a missing image was pushed to the registry.
    """
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}
    restarted = []
    with connect(cluster) as conn:
        for kind, name in workloads:
            api_version = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
            path = _object_path(conn, api_version, kind, namespace) + f"/{name}"
            result = conn.request(
                "PATCH",
                path,
                body=patch,
                query=[("fieldManager", FIELD_MANAGER)],
                content_type="application/strategic-merge-patch+json",
                what=f"restarting the rollout of {_describe(kind, name, namespace)}",
            )
            meta = result.get("metadata", {})
            restarted.append(
                AppliedObject(api_version, kind, name, namespace, meta.get("generation"))
            )
    return restarted
