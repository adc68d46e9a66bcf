"""HTTP to one registry: scheme choice, auth challenges, retries and clear errors."""

from __future__ import annotations

import functools
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter

from jobs.oci.auth import Credentials, TokenStore, parse_challenge
from jobs.oci.errors import NotFoundError, RegistryError, UnauthorizedError

T = TypeVar("T")
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, for transient faults only."""

    attempts: int = 5
    backoff: float = 0.2
    max_backoff: float = 4.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 2``; honours a bounded ``Retry-After``."""
        base = min(self.max_backoff, self.backoff * (2**attempt))
        jittered = base * (0.5 + random.random() / 2)
        return max(jittered, min(retry_after or 0.0, self.max_retry_after))


def with_retries(fn: Callable[[], T], policy: RetryPolicy) -> T:
    """Call ``fn``, retrying transient ``RegistryError``s up to ``policy.attempts`` times."""
    for attempt in range(policy.attempts):
        try:
            return fn()
        except RegistryError as err:
            if not err.transient:
                raise
            if attempt == policy.attempts - 1:
                raise RegistryError(
                    f"{err} (gave up after {policy.attempts} attempts)",
                    registry=err.registry,
                    image=err.image,
                    status=err.status,
                ) from err
            wait = policy.delay(attempt, err.retry_after)
        time.sleep(wait)
    raise AssertionError("unreachable")


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 (port optional): Docker treats them as insecure."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@functools.cache
def _probe_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _quiet_insecure_warnings() -> None:
    # Verification was switched off on purpose; a warning per request would only be noise.
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def speaks_tls(host: str, timeout: float) -> bool:
    """True if ``host[:port]`` completes a TLS handshake (certificate not checked)."""
    name, _, port = host.rpartition(":") if ":" in host.strip("[]") else (host, "", "443")
    try:
        with socket.create_connection((name.strip("[]"), int(port or 443)), timeout=timeout) as raw:
            with _probe_context().wrap_socket(raw, server_hostname=name.strip("[]")):
                return True
    except (OSError, ssl.SSLError):
        return False


class RegistryClient:
    """Authenticated, retrying HTTP access to one registry's ``/v2/`` API.

    ``plain_http=None`` means "as Docker does": HTTPS, except for loopback
    addresses, where HTTPS is tried without verification and plain HTTP is the
    fallback. Safe to share between threads.
    """

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        plain_http: bool | None = None,
        verify_tls: bool = True,
        timeout: float = 30.0,
        pool_size: int = 8,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._plain_http = plain_http
        self._verify = verify_tls
        self._base_url: str | None = None
        self._lock = threading.Lock()
        self._mode: str | None = None  # None (anonymous), "basic" or "bearer"
        self._challenge: dict[str, str] = {}
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 2), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.tokens = TokenStore(host, self.session, verify=verify_tls, timeout=timeout)
        if not verify_tls:
            _quiet_insecure_warnings()

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        with self._lock:
            if self._base_url is None:
                self._base_url = self._choose_base_url()
            return self._base_url

    def _choose_base_url(self) -> str:
        if self._plain_http:
            return f"http://{self.host}"
        if self._plain_http is None and is_loopback(self.host):
            if speaks_tls(self.host, self.timeout):
                self._verify = False  # Docker skips verification for insecure registries
                _quiet_insecure_warnings()
                return f"https://{self.host}"
            return f"http://{self.host}"
        return f"https://{self.host}"

    @property
    def auth_mode(self) -> str:
        return self._mode or "anonymous"

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url + path_or_url

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: Iterable[str] = (),
        ok: Iterable[int] = (200,),
        image: str | None = None,
        retry: bool = True,
        **kwargs,
    ) -> requests.Response:
        """Send one request, answering auth challenges; raise ``RegistryError`` unless ``ok``.

        With ``retry`` the request is repeated on 429, 5xx and connection faults;
        pass ``retry=False`` for one-shot bodies and retry at a higher level.
        """
        scopes = tuple(scopes)
        ok = tuple(ok)

        def attempt() -> requests.Response:
            resp = self._send_authenticated(method, path, scopes, image, kwargs)
            if resp.status_code not in ok:
                err = self.error_for(resp, method, image)
                resp.close()
                raise err
            return resp

        return with_retries(attempt, self.retry) if retry else attempt()

    def _send_authenticated(
        self, method: str, path: str, scopes: tuple[str, ...], image: str | None, kwargs: dict
    ) -> requests.Response:
        kwargs = dict(kwargs)
        headers = dict(kwargs.pop("headers", None) or {})
        sent_auth = self._authorization(scopes)
        resp = self._send(method, path, headers, sent_auth, image, kwargs)
        if resp.status_code != 401:
            return resp
        resp.close()
        self._answer_challenge(resp, scopes, sent_auth is not None, image)
        return self._send(method, path, headers, self._authorization(scopes), image, kwargs)

    def _send(
        self,
        method: str,
        path: str,
        headers: dict,
        authorization: str | None,
        image: str | None,
        kwargs: dict,
    ) -> requests.Response:
        if authorization:
            headers = {**headers, "Authorization": authorization}
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(
                method, self.url(path), headers=headers, verify=self._verify, **kwargs
            )
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"TLS error talking to registry {self.host}: {exc.__class__.__name__}; "
                "check its certificate, or mark the registry as plain HTTP / TLS verify off "
                "if it really is one",
                registry=self.host,
                image=image,
            ) from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise RegistryError(
                f"cannot reach registry {self.host} ({method} {_short(path)}): "
                f"{exc.__class__.__name__}; check the address and that the registry is up",
                registry=self.host,
                image=image,
                transient=True,
            ) from exc

    def _authorization(self, scopes: tuple[str, ...]) -> str | None:
        mode = self._mode
        if mode == "basic" and self.credentials:
            return requests.auth._basic_auth_str(
                self.credentials.username, self.credentials.password
            )
        if mode == "bearer":
            token = self.tokens.get(self._challenge, scopes, self.credentials)
            return f"Bearer {token}"
        return None

    def _answer_challenge(
        self, resp: requests.Response, scopes: tuple[str, ...], sent_auth: bool, image: str | None
    ) -> None:
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.credentials:
                raise self._unauthorized("it requires credentials and none were given", image)
            if sent_auth and self._mode == "basic":
                raise self._unauthorized("it refused the username or password", image)
            self._mode = "basic"
            return
        if scheme == "bearer":
            if sent_auth and self._mode == "bearer":
                self.tokens.forget(scopes)
                if params.get("error") == "insufficient_scope":
                    raise self._unauthorized(
                        f"the token lacks access {params.get('scope', '')!r}", image
                    )
            with self._lock:
                self._mode = "bearer"
                self._challenge = params
            return
        raise self._unauthorized("it answered 401 without a usable challenge", image)

    def _unauthorized(self, why: str, image: str | None) -> UnauthorizedError:
        who = f" (user {self.credentials.username!r})" if self.credentials else ""
        subject = f" for {image}" if image else ""
        return UnauthorizedError(
            f"unauthorized{subject}: registry {self.host} answered HTTP 401: {why}{who}; "
            f"check the credentials of registry {self.host}",
            registry=self.host,
            image=image,
            status=401,
        )

    def error_for(self, resp: requests.Response, method: str, image: str | None) -> RegistryError:
        """A ``RegistryError`` describing an unexpected response."""
        status = resp.status_code
        subject = image or f"{method} {_short(resp.request.path_url)}"
        detail = _registry_error_text(resp)
        if status == 401:
            return self._unauthorized(detail or "unauthorized", image)
        if status == 403:
            return UnauthorizedError(
                f"denied: registry {self.host} refused {subject} (HTTP 403{detail and ': '}"
                f"{detail}); check that the credentials of registry {self.host} may "
                "push/pull this repository",
                registry=self.host,
                image=image,
                status=status,
            )
        if status == 404:
            return NotFoundError(
                f"not found: {subject} does not exist on registry {self.host} (HTTP 404"
                f"{detail and ': '}{detail}); check the repository, tag or digest",
                registry=self.host,
                image=image,
                status=status,
            )
        transient = status in TRANSIENT_STATUSES or status >= 500
        advice = (
            "the registry is failing or overloaded; try again later or check its logs"
            if transient
            else "the registry rejected the request; check the image and the registry"
        )
        return RegistryError(
            f"registry {self.host} answered HTTP {status} for {subject}"
            f"{detail and ': '}{detail}; {advice}",
            registry=self.host,
            image=image,
            status=status,
            transient=transient,
            retry_after=_retry_after(resp) if transient else None,
        )


def _retry_after(resp: requests.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return None  # absent, or an HTTP date: plain backoff is good enough


def _registry_error_text(resp: requests.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
        text = "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors)
        return text[:300]  # people read it on pages: the gist, not a whole body
    except Exception:  # noqa: BLE001 - not JSON: no detail to add
        return ""


def _short(path: str) -> str:
    return path.split("?", 1)[0]
