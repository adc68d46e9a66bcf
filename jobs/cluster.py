"""The cluster layer: connect to a Kubernetes API and do Slipway's work there.

Plain Python over the official ``kubernetes`` client; no Flask. Every public
function takes a :class:`ClusterAccess` (what a Cluster row decrypts to) and
raises a :class:`ClusterError` subclass whose message names the API server,
the namespace and the object, so a release engineer knows what to fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config import kube_config
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
                # Certificates from the kubeconfig go to 0600 files in a 0700
                # directory of our own, removed again by close().
                self._private_dir = tempfile.mkdtemp(prefix="slipway-kube-")
                k8s_config.load_kube_config_from_dict(
                    _parse_kubeconfig(access.kubeconfig or ""),
                    context=access.context,
                    client_configuration=configuration,
                    persist_config=False,
                    temp_file_path=self._private_dir,
                )
        except (ConfigException, ValueError, KeyError, TypeError) as exc:
            self.close()
            raise ClusterConfigInvalid(f"cannot use the cluster's kubeconfig: {exc}") from exc
        self.server: str = configuration.host
        self.api = k8s.ApiClient(configuration)

    def close(self) -> None:
        """Close the HTTP pool and remove any credential files written for it."""
        api = getattr(self, "api", None)
        if api is not None:
            api.close()
        if self._private_dir:
            for key, path in list(kube_config._temp_files.items()):
                if path.startswith(self._private_dir + os.sep):
                    del kube_config._temp_files[key]
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


def _parse_kubeconfig(text: str) -> dict:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClusterConfigInvalid(f"the kubeconfig is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ClusterConfigInvalid("the kubeconfig is not a YAML mapping")
    return loaded


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
    if status in (0, None):
        return ClusterUnreachable(f"cannot reach {server} while {what}: {detail}")
    return ClusterError(f"{server} answered HTTP {status} while {what}: {detail}")


def unreachable_error(exc: BaseException, server: str, what: str) -> ClusterUnreachable:
    """Describe a transport failure (refused, DNS, TLS, timeout)."""
    reason = getattr(exc, "reason", None) or exc
    return ClusterUnreachable(
        f"cannot reach the Kubernetes API at {server} while {what}: {reason}. "
        "Check the server address in the kubeconfig, the network path and the certificate."
    )


def server_version(cluster: ClusterAccess) -> str:
    """The API server's version, e.g. ``v1.30.0``: the "Test connection" check."""
    with connect(cluster) as conn, conn.errors("reading the server version"):
        info = k8s.VersionApi(conn.api).get_code(_request_timeout=REQUEST_TIMEOUT)
    return str(info.git_version)
