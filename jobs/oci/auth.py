"""Registry credentials, ``WWW-Authenticate`` challenges and bearer tokens.

Follows the Docker registry token authentication spec: a ``Bearer`` challenge
names a ``realm`` (the token endpoint) and a ``service``; we ask the realm for
a token for the scopes we need, sending basic credentials when we have them,
and reuse the token for those scopes until it expires.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests

from jobs.oci.errors import RegistryError, UnauthorizedError

_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for one registry. ``repr`` hides the secret."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> Credentials:
        """Parse ``USER:PASS`` (the password may contain colons)."""
        username, sep, password = text.partition(":")
        if not sep or not username:
            raise ValueError("credentials must look like USER:PASSWORD")
        return cls(username, password)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``WWW-Authenticate`` value into its scheme and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM_RE.finditer(rest)
    }
    return scheme.lower(), params


def repository_scope(repository: str, actions: str) -> str:
    """A token scope such as ``repository:team/app:pull,push``."""
    return f"repository:{repository}:{actions}"


def credentials_from_docker_config(registry: str) -> Credentials | None:
    """Credentials for ``registry`` from Docker's ``config.json`` (honours ``DOCKER_CONFIG``)."""
    from docker import auth as docker_auth

    try:
        config = docker_auth.load_config()
        entry = docker_auth.resolve_authconfig(config, registry)
    except Exception:  # noqa: BLE001 - a broken config or helper means "no credentials"
        return None
    if not entry:
        return None
    username = entry.get("username") or entry.get("Username")
    password = entry.get("password") or entry.get("Password")
    if username and password:
        return Credentials(username, password)
    return None


class TokenStore:
    """Bearer tokens for one registry, fetched from its realm and reused per scope set."""

    def __init__(self, registry: str, session: requests.Session, *, verify: bool, timeout: float):
        self._registry = registry
        self._session = session
        self._verify = verify
        self._timeout = timeout
        self._lock = threading.Lock()
        self._tokens: dict[frozenset[str], tuple[str, float]] = {}
        self._fetching: dict[frozenset[str], threading.Lock] = {}

    def get(
        self, challenge: dict[str, str], scopes: Iterable[str], credentials: Credentials | None
    ) -> str:
        """A cached token for ``scopes``, or a new one; concurrent callers share one fetch."""
        key = frozenset(scopes)
        with self._lock:
            fetch_lock = self._fetching.setdefault(key, threading.Lock())
        with fetch_lock:
            return self.cached(key) or self.fetch(challenge, key, credentials)

    def cached(self, scopes: Iterable[str]) -> str | None:
        """A still-valid token for exactly these scopes, if we have one."""
        key = frozenset(scopes)
        with self._lock:
            token, expires = self._tokens.get(key, ("", 0.0))
        return token if token and time.monotonic() < expires else None

    def fetch(
        self, challenge: dict[str, str], scopes: Iterable[str], credentials: Credentials | None
    ) -> str:
        """Ask the challenge's realm for a token covering ``scopes`` and remember it."""
        key = frozenset(scopes)
        realm = challenge.get("realm")
        if not realm:
            raise RegistryError(
                f"registry {self._registry} sent a Bearer challenge without a realm; "
                "it is misconfigured",
                registry=self._registry,
            )
        params: list[tuple[str, str]] = []
        if challenge.get("service"):
            params.append(("service", challenge["service"]))
        params += [("scope", s) for s in sorted(key)]
        auth = (credentials.username, credentials.password) if credentials else None
        try:
            resp = self._session.get(
                realm, params=params, auth=auth, verify=self._verify, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise RegistryError(
                f"cannot reach the token service {realm} of registry {self._registry}: "
                f"{type(exc).__name__}; check that it is up and reachable",
                registry=self._registry,
                transient=True,
            ) from exc
        if resp.status_code in (401, 403):
            raise UnauthorizedError(
                f"unauthorized: the token service of registry {self._registry} refused "
                f"{_who(credentials)}"
                f" (HTTP {resp.status_code}); check the credentials of registry {self._registry}",
                registry=self._registry,
                status=resp.status_code,
            )
        if resp.status_code != 200:
            raise RegistryError(
                f"the token service {realm} of registry {self._registry} answered "
                f"HTTP {resp.status_code}; check the registry's auth configuration",
                registry=self._registry,
                status=resp.status_code,
                transient=resp.status_code >= 500 or resp.status_code == 429,
            )
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(
                f"the token service of registry {self._registry} answered without a token",
                registry=self._registry,
            )
        lifetime = float(body.get("expires_in") or 60)
        # Renew a little early so a token never expires between check and use.
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(lifetime - 10, lifetime / 2))
        return token

    def forget(self, scopes: Iterable[str]) -> None:
        with self._lock:
            self._tokens.pop(frozenset(scopes), None)


def _who(credentials: Credentials | None) -> str:
    if credentials is None:
        return "anonymous access"
    return f"the credentials of user {credentials.username!r}"
