"""Registry-to-registry image work over the OCI distribution API (no Docker daemon).

Public API: ``check_registry``, ``copy_image``, ``resolve``, ``image_exists``,
``list_tags``, and the types they use. Plain Python: nothing here knows Flask.
"""

from __future__ import annotations

from jobs.oci_auth import Credentials
from jobs.oci_errors import (
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    UnauthorizedError,
)
from jobs.oci_ref import ImageRef
from jobs.oci_transport import RegistryClient, RetryPolicy

__all__ = [
    "Credentials",
    "DigestMismatchError",
    "ImageRef",
    "NotFoundError",
    "RegistryError",
    "RetryPolicy",
    "UnauthorizedError",
    "check_registry",
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
    host = address.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if address.strip().startswith("http://"):
        plain_http = True
    credentials = Credentials(username, password or "") if username else None
    client = RegistryClient(
        host,
        credentials=credentials,
        plain_http=plain_http,
        verify_tls=verify_tls,
        timeout=timeout,
        retry=RetryPolicy(attempts=2, backoff=0.2),
    )
    resp = client.request("GET", "/v2/", ok=(200, 404))
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
