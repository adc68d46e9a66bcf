"""How to reach a cluster, and what can go wrong there: no Kubernetes client needed."""

from __future__ import annotations

from dataclasses import dataclass, field


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
