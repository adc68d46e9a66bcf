"""Fixtures for the image-copy tests: a token-auth registry, fault proxies, stub registries."""

from __future__ import annotations

import collections
import http.client
import http.server
import re
import threading
from collections.abc import Callable, Iterator

import pytest

from sandbox import services
from sandbox.token_service import TokenService

TOKEN_USER, TOKEN_PASSWORD = "robot", "t0ken-pw"


@pytest.fixture(scope="session")
def token_service(tmp_path_factory) -> Iterator[TokenService]:
    """A bearer-token service that knows user ``robot`` / ``t0ken-pw``."""
    service = TokenService(tmp_path_factory.mktemp("token-service"), {TOKEN_USER: TOKEN_PASSWORD})
    yield service
    service.stop()


@pytest.fixture(scope="session")
def token_credentials():
    """The ``Credentials`` that ``token_service`` accepts."""
    from jobs.oci.registry import Credentials

    return Credentials(TOKEN_USER, TOKEN_PASSWORD)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory, token_service):
    """A registry with ``auth: token:`` trusting ``token_service``."""
    svc = services.start_registry(
        tmp_path_factory.mktemp("token-registry"), token_auth=token_service.registry_config()
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory):
    """A private dockerd (vfs, no iptables, no bridge) under a tmp dir; stopped after."""
    daemon = services.start_dockerd(tmp_path_factory.mktemp("dockerd"))
    yield daemon
    daemon.stop()


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 running in a daemon thread."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


_UPLOAD_ID = re.compile(r"/blobs/uploads/[^/?]+")


class FaultProxy(_Server):
    """Forwards to a registry, but fails the first tries of many distinct requests.

    Requests are told apart by method, path (upload ids folded together) and
    ``digest``; of each third distinct request the first try gets 503, of the
    next the first try loses its connection (GETs mid-body) and the second gets
    503. So every request succeeds within three tries, and faults are certain.
    ``inject=False`` only forwards (and counts methods); ``max_body`` answers 413
    to bigger request bodies, as a proxy with a body size limit does;
    ``corrupt_blobs`` flips the last bit of every blob it serves.
    """

    def __init__(
        self,
        upstream: str,
        *,
        inject: bool = True,
        max_body: int | None = None,
        corrupt_blobs: bool = False,
    ):
        self.upstream = upstream
        self.inject = inject
        self.max_body = max_body
        self.corrupt_blobs = corrupt_blobs
        self.methods: collections.Counter = collections.Counter()
        self.attempts: collections.Counter = collections.Counter()
        self.order: dict[tuple, int] = {}
        self.faults: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        super().__init__(self._handler())

    def decide(self, method: str, path: str) -> str | None:
        base, _, query = path.partition("?")
        digest = re.search(r"digest=([^&]+)", query)
        key = (method, _UPLOAD_ID.sub("/blobs/uploads/*", base), digest and digest.group(1))
        with self.lock:
            self.methods[method] += 1
            if not self.inject:
                return None
            index = self.order.setdefault(key, len(self.order))
            attempt = self.attempts[key]
            self.attempts[key] += 1
            fault = None
            if index % 3 == 1 and attempt == 0:
                fault = "503"
            elif index % 3 == 2 and attempt == 0:
                fault = "drop"
            elif index % 3 == 2 and attempt == 1:
                fault = "503"
            if fault:
                self.faults[fault] += 1
            return fault

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                body = self._read_body()
                fault = proxy.decide(self.command, self.path)
                if proxy.max_body is not None and len(body) > proxy.max_body:
                    proxy.faults["413"] += 1
                    self._send_simple(413, b"request body too large")
                    return
                if fault == "503":
                    self._send_simple(503, b'{"errors":[{"code":"UNAVAILABLE"}]}')
                    return
                if fault == "drop" and self.command != "GET":
                    self.close_connection = True
                    return
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                headers.pop("Transfer-Encoding", None)
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                resp = upstream.getresponse()
                data = resp.read()
                if proxy.corrupt_blobs and "/blobs/sha256:" in self.path and data:
                    data = data[:-1] + bytes([data[-1] ^ 1])
                self.send_response(resp.status)
                for name, value in resp.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                length = int(resp.getheader("Content-Length") or len(data))
                self.send_header("Content-Length", str(length))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                if self.command == "HEAD":
                    return
                if fault == "drop":
                    self.wfile.write(data[: len(data) // 2])
                    return
                self.wfile.write(data)
                upstream.close()

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send_simple(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any  # noqa: N815

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """Factory: ``fault_proxy(registry.address, inject=..., max_body=...)``."""
    started: list[FaultProxy] = []

    def start(upstream: str, **options) -> FaultProxy:
        proxy = FaultProxy(upstream, **options)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


class StubRegistry(_Server):
    """Answers every request with one status and counts the requests."""

    def __init__(self, status: int, headers: dict[str, str] | None = None):
        self.status = status
        self.headers = dict(headers or {})
        self.hits = 0
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                stub.hits += 1
                body = b'{"errors":[{"code":"UNKNOWN","message":"stub failure"}]}'
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                for name, value in stub.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any  # noqa: N815

            def log_message(self, *args):
                pass

        super().__init__(Handler)


@pytest.fixture
def stub_registry() -> Iterator[Callable[[int], StubRegistry]]:
    """Factory: ``stub_registry(500)`` is a server that always answers 500."""
    started: list[StubRegistry] = []

    def start(status: int, headers: dict[str, str] | None = None) -> StubRegistry:
        stub = StubRegistry(status, headers)
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.stop()
