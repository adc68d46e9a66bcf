"""The optional Docker-daemon copy engine: login, pull, tag, push through the ``docker`` SDK.

Same call shape as ``jobs.oci.registry.copy_image``, for users who want images to
go through a Docker daemon (as Zadig does). A daemon stores one platform of
an image, so an index (multi-arch) source arrives as a single-platform image
with a new digest; the result says so in ``reduced_to_platform``.
"""

from __future__ import annotations

from collections.abc import Iterable

import docker
import docker.errors

from jobs.oci.auth import Credentials, credentials_from_docker_config
from jobs.oci.copy import CopyProgress, CopyResult, ProgressCallback
from jobs.oci.errors import NotFoundError, RegistryError, UnauthorizedError
from jobs.oci.manifest import DOCKER_MANIFEST, INDEX_TYPES
from jobs.oci.ref import ImageRef

_AUTH_WORDS = ("unauthorized", "authentication required", "denied", "no basic auth credentials")


def copy_image_with_docker(
    src: str | ImageRef,
    dst: str | ImageRef,
    *,
    src_auth: Credentials | None = None,
    dst_auth: Credentials | None = None,
    progress: ProgressCallback | None = None,
    docker_host: str | None = None,
    keep_local: bool = False,
    timeout: int = 600,
) -> CopyResult:
    """Copy ``src`` to ``dst`` with ``docker pull``, ``tag`` and ``push`` on a daemon.

    ``docker_host`` is the daemon's URL (``unix:///path``), else ``DOCKER_HOST``
    or the default socket. Local copies are removed afterwards unless
    ``keep_local``. Raises ``RegistryError`` with the daemon's reason.
    """
    src_ref = src if isinstance(src, ImageRef) else ImageRef.parse(src)
    dst_ref = dst if isinstance(dst, ImageRef) else ImageRef.parse(dst)
    client = (
        docker.DockerClient(base_url=docker_host, timeout=timeout)
        if docker_host
        else docker.from_env(timeout=timeout)
    )
    try:
        return _DockerCopy(client, src_ref, dst_ref, progress).run(
            src_auth or credentials_from_docker_config(src_ref.registry),
            dst_auth or credentials_from_docker_config(dst_ref.registry),
            keep_local,
        )
    finally:
        client.close()


class _DockerCopy:
    def __init__(
        self,
        client: docker.DockerClient,
        src: ImageRef,
        dst: ImageRef,
        progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.src, self.dst = src, dst
        self.progress = progress
        self.result = CopyResult(
            source=str(src), target=str(dst), digest="", media_type="", engine="docker"
        )

    def run(
        self, src_auth: Credentials | None, dst_auth: Credentials | None, keep_local: bool
    ) -> CopyResult:
        src_config = self._login(self.src, src_auth)
        dst_config = self._login(self.dst, dst_auth)
        platform = self._daemon_platform()
        source_type = self._source_media_type(src_config)
        pulled = self._full(self.src)
        target_repo = self._name(self.dst)
        target_tag = self.dst.tag or "latest"
        try:
            self._stream(
                self.src,
                self.client.api.pull(
                    self._name(self.src),
                    tag=self.src.digest or self.src.tag,
                    stream=True,
                    decode=True,
                    auth_config=src_config,
                ),
            )
            if not self.client.api.tag(pulled, target_repo, target_tag):
                raise RegistryError(f"docker could not tag {self.src} as {self.dst}")
            self._stream(
                self.dst,
                self.client.api.push(
                    target_repo, tag=target_tag, stream=True, decode=True, auth_config=dst_config
                ),
            )
        except docker.errors.APIError as exc:
            raise self._error(exc.explanation or str(exc), self.src, exc.status_code) from exc
        finally:
            if not keep_local:
                self._remove(f"{target_repo}:{target_tag}", pulled)
        self.result.media_type = DOCKER_MANIFEST
        self.result.manifests_pushed = 1
        self.result.platforms = [platform]
        if source_type in INDEX_TYPES:
            self.result.reduced_to_platform = platform
        if self.progress:
            self.progress(CopyProgress("done", self.result.bytes_copied, 0, 0, 0, ""))
        return self.result

    def _login(self, ref: ImageRef, auth: Credentials | None) -> dict | None:
        if auth is None:
            return None
        try:
            self.client.login(
                username=auth.username, password=auth.password, registry=ref.api_host, reauth=True
            )
        except docker.errors.APIError as exc:
            raise self._error(exc.explanation or str(exc), ref, exc.status_code) from exc
        return {"username": auth.username, "password": auth.password}

    def _daemon_platform(self) -> str:
        info = self.client.version()
        return f"{info.get('Os', 'linux')}/{info.get('Arch', 'amd64')}"

    def _source_media_type(self, auth_config: dict | None) -> str:
        try:
            found = self.client.api.inspect_distribution(self._full(self.src), auth_config)
        except docker.errors.APIError as exc:
            raise self._error(exc.explanation or str(exc), self.src, exc.status_code) from exc
        return found.get("Descriptor", {}).get("mediaType", "")

    def _stream(self, ref: ImageRef, events: Iterable[dict]) -> None:
        pushed_sizes: dict[str, int] = {}
        for event in events:
            if "error" in event:
                detail = event.get("errorDetail", {}).get("message") or event["error"]
                raise self._error(detail, ref, None)
            status = event.get("status", "")
            layer = event.get("id", "")
            total = (event.get("progressDetail") or {}).get("total")
            if status == "Pushing" and total:
                pushed_sizes[layer] = max(pushed_sizes.get(layer, 0), total)
            if status == "Pushed":
                self.result.blobs_copied += 1
                self.result.bytes_copied += pushed_sizes.get(layer, 0)
            elif status == "Layer already exists":
                self.result.blobs_skipped += 1
            elif status.startswith("Mounted from"):
                self.result.blobs_mounted += 1
            aux = event.get("aux") or {}
            if aux.get("Digest"):
                self.result.digest = aux["Digest"]
            if self.progress and status:
                self.progress(
                    CopyProgress("blob", self.result.bytes_copied, 0, 0, 0, f"{layer} {status}")
                )
        if ref is self.dst and not self.result.digest:
            raise RegistryError(
                f"docker pushed {self.dst} but reported no digest; check the daemon's log",
                registry=self.dst.registry,
                image=str(self.dst),
            )

    def _remove(self, *names: str) -> None:
        for name in names:
            try:
                self.client.images.remove(name)
            except docker.errors.APIError:
                pass  # already gone, or still used by another tag

    def _error(self, text: str, ref: ImageRef, status: int | None) -> RegistryError:
        lowered = text.lower()
        http = f" (docker daemon HTTP {status})" if status else ""
        if any(word in lowered for word in _AUTH_WORDS):
            return UnauthorizedError(
                f"unauthorized: docker could not access {ref}: {text}{http}; "
                f"check the credentials of registry {ref.registry}",
                registry=ref.registry,
                image=str(ref),
                status=status,
            )
        if "not found" in lowered or "manifest unknown" in lowered:
            return NotFoundError(
                f"not found: docker could not find {ref} on registry {ref.registry}: {text}{http}; "
                "check the repository, tag or digest",
                registry=ref.registry,
                image=str(ref),
                status=status,
            )
        return RegistryError(
            f"docker failed on {ref} (registry {ref.registry}): {text}{http}; "
            "check the daemon and the registry",
            registry=ref.registry,
            image=str(ref),
            status=status,
        )

    @staticmethod
    def _name(ref: ImageRef) -> str:
        if ref.registry == "docker.io":
            return ref.repository.removeprefix("library/")
        return f"{ref.registry}/{ref.repository}"

    def _full(self, ref: ImageRef) -> str:
        if ref.digest:
            return f"{self._name(ref)}@{ref.digest}"
        return f"{self._name(ref)}:{ref.tag or 'latest'}"
