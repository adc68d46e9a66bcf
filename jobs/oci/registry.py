"""Registry-to-registry image work over the OCI distribution API (no Docker daemon).

Public API: ``check_registry``, ``copy_image``, ``resolve``, ``image_exists``,
``list_tags``, and the types they use. Plain Python: nothing here knows Flask.
"""

from __future__ import annotations

from jobs.oci.auth import Credentials, credentials_from_docker_config, repository_scope
from jobs.oci.copy import CopyProgress, CopyResult, ImageCopier, ProgressCallback
from jobs.oci.errors import (
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    UnauthorizedError,
)
from jobs.oci.manifest import ACCEPT, sha256_digest
from jobs.oci.ref import ImageRef
from jobs.oci.transport import RegistryClient, RetryPolicy

__all__ = [
    "CopyProgress",
    "CopyResult",
    "Credentials",
    "DigestMismatchError",
    "ImageRef",
    "NotFoundError",
    "RegistryError",
    "RetryPolicy",
    "UnauthorizedError",
    "check_registry",
    "copy_image",
    "image_exists",
    "list_tags",
    "resolve",
]


def check_registry(
    address: str,
    *,
    username: str | None = None,
    password: str | None = None,
    plain_http: bool = False,
    verify_tls: bool = True,
    timeout: float = 10,
) -> str:
    """Do an authenticated ``GET /v2/`` on ``address``; return a short success description.

    Raises ``RegistryError`` (``UnauthorizedError`` for bad credentials) with a
    message that says what to fix and never contains the password.
    """
    # Only host[:port] matters for /v2/; a namespace path after it is not part of the API URL.
    host = address.strip().removeprefix("https://").removeprefix("http://").split("/")[0]
    if address.strip().startswith("http://"):
        plain_http = True
    credentials = Credentials(username, password or "") if username else None
    with RegistryClient(
        host,
        credentials=credentials,
        plain_http=plain_http,
        verify_tls=verify_tls,
        timeout=timeout,
        retry=RetryPolicy(attempts=2, backoff=0.2),
    ) as client:
        resp = client.request("GET", "/v2/", ok=(200, 404))
        resp.close()
    api_version = resp.headers.get("Docker-Distribution-API-Version", "")
    is_json = resp.headers.get("Content-Type", "").startswith("application/json")
    if resp.status_code != 200 or not (api_version or is_json):
        raise RegistryError(
            f"{host} is not a container registry: GET /v2/ answered HTTP {resp.status_code} "
            f"without the registry API; check the address (host[:port], no path)",
            registry=host,
            status=resp.status_code,
        )
    scheme = "HTTP" if client.base_url.startswith("http://") else "HTTPS"
    who = f"as {username!r} ({client.auth_mode} auth)" if credentials else "anonymously"
    return f"registry {host} answered over {scheme}, signed in {who}"


def _client(
    ref: ImageRef,
    auth: Credentials | None,
    plain_http: bool | None,
    verify_tls: bool,
    *,
    pool_size: int = 8,
    retry: RetryPolicy | None = None,
    timeout: float = 60.0,
) -> RegistryClient:
    credentials = auth if auth is not None else credentials_from_docker_config(ref.registry)
    return RegistryClient(
        ref.api_host,
        credentials=credentials,
        plain_http=plain_http,
        verify_tls=verify_tls,
        pool_size=pool_size,
        retry=retry,
        timeout=timeout,
    )


def _as_ref(ref: str | ImageRef) -> ImageRef:
    return ref if isinstance(ref, ImageRef) else ImageRef.parse(ref)


def copy_image(
    src: str | ImageRef,
    dst: str | ImageRef,
    *,
    src_auth: Credentials | None = None,
    dst_auth: Credentials | None = None,
    progress: ProgressCallback | None = None,
    src_plain_http: bool | None = None,
    dst_plain_http: bool | None = None,
    src_verify_tls: bool = True,
    dst_verify_tls: bool = True,
    concurrency: int = 4,
    retry: RetryPolicy | None = None,
    upload_chunk_size: int | None = None,
) -> CopyResult:
    """Copy ``src`` to ``dst`` registry-to-registry; the target digest equals the source's.

    Copies every child of an index (children first), skips blobs the target
    has, mounts blobs across repositories of one registry, and streams the rest
    with their sha256 checked on the way. Credentials default to Docker's
    ``config.json``, then anonymous. ``*_plain_http=None`` means HTTPS except
    for loopback registries (as Docker does). ``progress`` receives
    ``CopyProgress`` reports from worker threads. Blobs go up in one streamed
    PUT, or as PATCHes of ``upload_chunk_size`` bytes when set (and, in ever
    smaller chunks, after a registry or proxy answers 413 to a whole blob).
    """
    src_ref, dst_ref = _as_ref(src), _as_ref(dst)
    pool = concurrency + 2
    src_client = _client(
        src_ref, src_auth, src_plain_http, src_verify_tls, pool_size=pool, retry=retry
    )
    shared = (
        src_ref.api_host == dst_ref.api_host
        and src_plain_http == dst_plain_http
        and src_verify_tls == dst_verify_tls
        and (src_auth is None or dst_auth is None or src_auth == dst_auth)
    )
    if shared:
        dst_client = _client(
            dst_ref,
            dst_auth or src_auth,
            dst_plain_http,
            dst_verify_tls,
            pool_size=pool,
            retry=retry,
        )
        src_client = dst_client
    else:
        dst_client = _client(
            dst_ref, dst_auth, dst_plain_http, dst_verify_tls, pool_size=pool, retry=retry
        )
    copier = ImageCopier(
        src_ref,
        dst_ref,
        src_client,
        dst_client,
        concurrency=concurrency,
        progress=progress,
        upload_chunk_size=upload_chunk_size,
    )
    try:
        return copier.run()
    finally:
        src_client.close()
        dst_client.close()


def resolve(
    ref: str | ImageRef,
    *,
    auth: Credentials | None = None,
    plain_http: bool | None = None,
    verify_tls: bool = True,
) -> str:
    """The digest of the manifest (or index) ``ref`` names; ``NotFoundError`` if none."""
    image = _as_ref(ref)
    path = f"/v2/{image.repository}/manifests/{image.reference}"
    scopes = [repository_scope(image.repository, "pull")]
    headers = {"Accept": ACCEPT}
    with _client(image, auth, plain_http, verify_tls) as client:
        resp = client.request("HEAD", path, scopes=scopes, headers=headers, image=str(image))
        digest = resp.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        resp = client.request("GET", path, scopes=scopes, headers=headers, image=str(image))
        return sha256_digest(resp.content)


def image_exists(
    ref: str | ImageRef,
    *,
    auth: Credentials | None = None,
    plain_http: bool | None = None,
    verify_tls: bool = True,
) -> bool:
    """True if the registry has a manifest for ``ref``."""
    try:
        resolve(ref, auth=auth, plain_http=plain_http, verify_tls=verify_tls)
    except NotFoundError:
        return False
    return True


def list_tags(
    repo: str,
    *,
    auth: Credentials | None = None,
    plain_http: bool | None = None,
    verify_tls: bool = True,
) -> list[str]:
    """All tags of ``repo`` (``host[:port]/path``), following pagination."""
    image = ImageRef.parse(repo)
    scopes = [repository_scope(image.repository, "pull")]
    tags: list[str] = []
    url: str | None = f"/v2/{image.repository}/tags/list?n=1000"
    with _client(image, auth, plain_http, verify_tls) as client:
        while url:
            resp = client.request(
                "GET", url, scopes=scopes, image=f"{image.registry}/{image.repository}"
            )
            tags += resp.json().get("tags") or []
            url = resp.links.get("next", {}).get("url")
    return tags
