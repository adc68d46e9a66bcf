"""Deciding what happens when the simulated kubelet pulls and runs an image."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

from sandbox.kube.config import SandboxConfig

_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_LOOPBACK = ("127.0.0.1:", "localhost:")


def split_image(image: str) -> tuple[str, str, str]:
    """``(registry, repository, tag-or-digest)``, with Docker Hub's defaults."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", image
        if "/" not in path:
            path = f"library/{path}"
    if "@" in path:
        repo, reference = path.split("@", 1)
        if ":" in repo.rsplit("/", 1)[-1]:  # repo:tag@digest: the digest is what is pulled
            repo = repo.rpartition(":")[0]
    else:
        repo, _, reference = path.rpartition(":") if ":" in path else (path, "", "latest")
    return registry, repo, reference


def full_reference(image: str) -> str:
    """The image as containerd names it, e.g. ``docker.io/library/nginx:1.25``."""
    registry, repo, reference = split_image(image)
    sep = "@" if reference.startswith("sha256:") else ":"
    return f"{registry}/{repo}{sep}{reference}"


class ImageChecker:
    """Pull and crash outcomes for images, asking loopback registries when configured."""

    def __init__(
        self,
        config: SandboxConfig,
        cache_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.cache_seconds = cache_seconds
        # The sandbox clock's, so a test can let the cached answers age without sleeping.
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def pull_error(self, image: str) -> str | None:
        """The kubelet's ``ErrImagePull`` message for an image that cannot be pulled, or None."""
        ref = full_reference(image)
        missing = any(p and p in image for p in self.config.pull_fail_patterns)
        if not missing and self.config.check_registries:
            missing = not self._exists_in_registry(image)
        if not missing:
            return None
        registry, repo, reference = split_image(image)
        return (
            f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
            f"{registry}/{repo}:{reference}: not found"
        )

    def crashes(self, image: str) -> bool:
        """Does a container from this image crash after it starts?"""
        return any(p and p in image for p in self.config.crash_patterns)

    def _exists_in_registry(self, image: str) -> bool:
        registry, repo, reference = split_image(image)
        if not registry.startswith(_LOOPBACK):
            return True
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(image)
            if cached and now - cached[0] < self.cache_seconds:
                return cached[1]
        try:
            answer = requests.head(
                f"http://{registry}/v2/{repo}/manifests/{reference}",
                headers={"Accept": _MANIFEST_TYPES},
                timeout=2,
            )
            # 401: the sandbox has no pull secrets, so it cannot tell; assume it exists.
            exists = answer.status_code != 404
        except requests.RequestException:
            exists = True  # an unreachable registry is not checked
        with self._lock:
            self._cache[image] = (now, exists)
        return exists
