"""The HTTP front: routing Kubernetes REST paths to the API, and starting the sandbox."""

from __future__ import annotations

import hmac
import json
import logging
import select
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from sandbox.kube import errors, resources, state
from sandbox.kube.api import CRDS, PATCH_TYPES, Api
from sandbox.kube.clock import Clock
from sandbox.kube.config import SandboxConfig
from sandbox.kube.controller import Controller
from sandbox.kube.kubeconfig import kubeconfig_text, write_kubeconfig
from sandbox.kube.resources import Resource
from sandbox.kube.seed import ensure_cluster_basics, seed_documents
from sandbox.kube.store import Store
from sandbox.kube.tables import as_table, wants_table
from sandbox.kube.watch import watch_events

log = logging.getLogger(__name__)

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "sandbox",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
PROTOBUF = "application/vnd.kubernetes.protobuf"


def decode_body(content_type: str, raw: bytes) -> object:
    """The request body as JSON-like data, whatever its content type."""
    media = content_type.split(";")[0].strip().lower()
    if not raw:
        return None
    if media == PROTOBUF:
        try:
            from sandbox.kube import protobuf
        except ImportError:
            raise errors.ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown "
                "format - accepted media types include: application/json, application/yaml",
            ) from None
        try:
            return protobuf.decode(raw)
        except errors.ApiError:
            raise
        except ValueError as exc:
            raise errors.bad_request(f"unable to decode the protobuf body: {exc}") from None
    try:
        if media.endswith("yaml"):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"unable to decode the request body: {exc}") from None


@dataclass
class Route:
    """A parsed resource path."""

    res: Resource
    namespace: str | None
    name: str | None
    subresource: str


def parse_resource_path(segments: list[str], api: Api) -> Route | None:
    """Route ``/api/v1/...`` or ``/apis/<g>/<v>/...`` segments to a resource."""
    if segments[0] == "api" and len(segments) > 2:
        group, version, rest = "", segments[1], segments[2:]
    elif segments[0] == "apis" and len(segments) > 3:
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        res = api.lookup(group, version, rest[2])
        if res is not None and res.namespaced and len(rest) <= 5:
            name = rest[3] if len(rest) > 3 else None
            return Route(res, rest[1], name, rest[4] if len(rest) > 4 else "")
    res = api.lookup(group, version, rest[0])
    if res is None or len(rest) > 3:
        return None
    if res.namespaced:
        return Route(res, None, None, "") if len(rest) == 1 else None
    name = rest[1] if len(rest) > 1 else None
    return Route(res, "", name, rest[2] if len(rest) > 2 else "")


class Handler(BaseHTTPRequestHandler):
    """One request against the sandbox API."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every response.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- plumbing ---------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for warning in getattr(self, "_warnings", None) or []:
            self.send_header("Warning", "299 - " + json.dumps(warning))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, code: int, doc: object) -> None:
        self._send(code, json.dumps(doc).encode())

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            raw = self._read_body()
            if not self._authorized(url.path):
                raise errors.ApiError(401, "Unauthorized", "Unauthorized")
            self._route(method, url.path, query, raw)
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - answer like the API server, then log
            log.exception("sandbox request failed: %s %s", method, url.path)
            self._send_json(500, errors.status_body(500, "InternalError", str(exc)))

    def _authorized(self, path: str) -> bool:
        token = self.server.token
        if not token or path in PUBLIC_PATHS:
            return True
        sent = self.headers.get("Authorization", "").encode()
        return hmac.compare_digest(sent, f"Bearer {token}".encode())

    def _route(self, method: str, path: str, query: dict, raw: bytes) -> None:
        segments = [s for s in path.split("/") if s]
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return self._send_json(200, KUBE_VERSION)
        if segments and segments[0] == "openapi" and method == "GET":
            return self._openapi(path, query)
        if method == "GET" and segments and segments[0] in ("api", "apis") and len(segments) <= 3:
            doc = self._discovery(segments)
            if doc is not None:
                return self._send_json(200, doc)
        route = parse_resource_path(segments, self.server.api) if segments else None
        if route is None:
            raise errors.path_not_found()
        with self.server.api.request(query.get("fieldValidation", "")) as warnings:
            self._warnings = warnings
            try:
                self._resource(method, route, query, raw)
            finally:
                self._warnings = []

    def _discovery(self, segments: list[str]) -> dict | None:
        if segments == ["api"]:
            return resources.api_versions(f"127.0.0.1:{self.server.server_port}")
        custom = self.server.api.custom_resources()
        if segments == ["apis"]:
            return resources.api_group_list(custom)
        if segments[0] == "api" and len(segments) == 2:
            return resources.api_resource_list("", segments[1])
        if segments[0] == "apis" and len(segments) == 2:
            return resources.api_group(segments[1], custom)
        if segments[0] == "apis" and len(segments) == 3:
            return resources.api_resource_list(segments[1], segments[2], custom)
        return None

    def _openapi(self, path: str, query: dict) -> None:
        try:
            from sandbox.kube import openapi
        except ImportError:
            openapi = None
        crds = self.server.api.store.list(CRDS)[0]
        accept = self.headers.get("Accept", "")
        answer = openapi.handle(path, query, accept, crds) if openapi else None
        if answer is None:
            raise errors.path_not_found()
        code, content_type, body = answer
        self._send(code, body, content_type)

    # --- resources --------------------------------------------------------------

    def _resource(self, method: str, route: Route, query: dict, raw: bytes) -> None:
        api: Api = self.server.api
        res, ns, name, sub = route.res, route.namespace, route.name, route.subresource
        if sub and sub not in res.subresources:
            raise errors.path_not_found()
        if not res.stored:
            return self._review(method, route, query, raw)
        if method == "GET" and name is None:
            if query.get("watch", "").lower() in ("true", "1"):
                return self._watch(res, ns, query)
            doc = api.list(res, ns, query.get("labelSelector"), query.get("fieldSelector"))
            return self._send_object(doc, res)
        if method == "GET":
            if sub == "log":
                return self._pod_log(ns or "", name, query)
            if sub == "scale":
                return self._send_json(200, api.get_scale(res, ns or "", name))
            return self._send_object(api.get(res, ns or "", name), res)
        if sub not in ("", "status", "scale") or (sub and method not in ("PUT", "PATCH")):
            raise errors.ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        body = decode_body(self.headers.get("Content-Type", "application/json"), raw)
        dry_run = query.get("dryRun") == "All"
        options = body if method == "DELETE" and isinstance(body, dict) else {}
        if options:
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
        if method == "POST" and name is None and ns is not None:
            return self._send_json(201, api.create(res, ns, body, dry_run=dry_run))
        if method == "PUT" and name is not None:
            if sub == "scale":
                scale = api.update_scale(res, ns or "", name, None, body, dry_run=dry_run)
                return self._send_json(200, scale)
            return self._send_json(200, api.update(res, ns or "", name, body, sub, dry_run=dry_run))
        if method == "PATCH" and name is not None:
            media = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            patch_type = PATCH_TYPES.get(media)
            if patch_type is None:
                raise errors.ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - "
                    f"accepted media types include: {', '.join(PATCH_TYPES)}",
                )
            if sub == "scale":
                scale = api.update_scale(res, ns or "", name, patch_type, body, dry_run=dry_run)
                return self._send_json(200, scale)
            existed = api.store.get(res, ns or "", name) is not None
            obj = api.patch(
                res,
                ns or "",
                name,
                patch_type,
                body,
                subresource=sub,
                field_manager=query.get("fieldManager", ""),
                force=query.get("force", "").lower() == "true",
                dry_run=dry_run,
            )
            return self._send_json(200 if existed else 201, obj)
        if method == "DELETE":
            policy = query.get("propagationPolicy") or options.get("propagationPolicy", "")
            orphan = query.get("orphanDependents", options.get("orphanDependents"))
            if not policy and orphan in (True, "true"):
                policy = "Orphan"
            grace = query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
            if name is not None:
                answer = api.delete(
                    res,
                    ns or "",
                    name,
                    policy,
                    dry_run=dry_run,
                    grace_period=None if grace in (None, "") else int(grace),
                    preconditions=options.get("preconditions"),
                )
                return self._send_json(200, answer)
            doc = api.delete_collection(
                res,
                ns,
                query.get("labelSelector"),
                query.get("fieldSelector"),
                dry_run=dry_run,
                propagation=policy,
            )
            return self._send_json(200, doc)
        raise errors.ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _crd(self, res: Resource) -> dict | None:
        if not res.custom:
            return None
        return self.server.api.store.get(CRDS, "", f"{res.plural}.{res.group}")

    def _review(self, method: str, route: Route, query: dict, raw: bytes) -> None:
        """Access reviews are answered, never stored: the sandbox has no RBAC, so every
        request is allowed (``kubectl auth can-i`` says yes)."""
        if method != "POST" or route.name is not None:
            raise errors.ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        body = decode_body(self.headers.get("Content-Type", "application/json"), raw)
        if not isinstance(body, dict):
            raise errors.bad_request("the request body is not an object")
        res = route.res
        answer = {
            "kind": res.kind,
            "apiVersion": res.api_version,
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec") or {},
        }
        if res.kind == "SelfSubjectRulesReview":
            answer["status"] = {
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": False,
            }
        else:
            answer["status"] = {
                "allowed": True,
                "reason": "the sandbox cluster has no RBAC: everything is allowed",
            }
        self._send_json(201, answer)

    def _send_object(self, doc: dict, res: Resource) -> None:
        accept = self.headers.get("Accept", "")
        if wants_table(accept):
            doc = as_table(doc, res, self._crd(res))
        self._send_json(200, doc)

    def _pod_log(self, namespace: str, name: str, query: dict) -> None:
        api: Api = self.server.api
        pod = api.get(resources.by_plural("", "pods"), namespace, name)
        containers = [c["name"] for c in pod.get("spec", {}).get("containers") or []]
        container = query.get("container") or (containers[0] if containers else "")
        if container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        status = next(
            (
                s
                for s in (pod.get("status") or {}).get("containerStatuses") or []
                if s.get("name") == container
            ),
            {},
        )
        previous = query.get("previous", "").lower() in ("true", "1")
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        if previous and not terminated:
            raise errors.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        text = api.store.pod_logs.get((namespace, name), "")
        if previous:
            started = terminated.get("startedAt")
        else:
            state = status.get("state") or {}
            started = (
                (state.get("running") or {}).get("startedAt")
                or (state.get("terminated") or {}).get("startedAt")
                or terminated.get("finishedAt")
            )
        if query.get("sinceSeconds") and started:
            if api.clock.seconds_since(started) > int(query["sinceSeconds"]):
                text = ""
        if query.get("tailLines"):
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(query["tailLines"]) :]) if int(query["tailLines"]) else ""
        if query.get("timestamps", "").lower() in ("true", "1"):
            # RFC 3339 with nanoseconds, as the kubelet prefixes each line.
            stamp = (started or api.now()).replace("Z", ".000000000Z")
            text = "".join(f"{stamp} {line}" for line in text.splitlines(keepends=True))
        if query.get("limitBytes"):
            text = text.encode()[: int(query["limitBytes"])].decode(errors="ignore")
        self._send(200, text.encode(), "text/plain")

    def _watch(self, res: Resource, namespace: str | None, query: dict) -> None:
        timeout = float(query.get("timeoutSeconds") or 1800)
        events = watch_events(
            self.server.api.store,
            res,
            namespace,
            label_selector=query.get("labelSelector"),
            field_selector=query.get("fieldSelector"),
            resource_version=query.get("resourceVersion"),
            timeout=timeout,
            alive=self._client_connected,
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        table = wants_table(self.headers.get("Accept", ""))
        crd = self._crd(res) if table else None
        for event in events:
            if table and event["type"] != "ERROR":
                event = {"type": event["type"], "object": as_table(event["object"], res, crd)}
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def _client_connected(self) -> bool:
        """False once the client has closed its end of the connection or the server stops."""
        if self.server.closing.is_set():
            return False
        sock: socket.socket = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable and not sock.recv(1, socket.MSG_PEEK):
                return False
        except OSError:
            return False
        return True


class SandboxHTTPServer(ThreadingHTTPServer):
    """The HTTP server, carrying the API it serves."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api, token: str | None) -> None:
        super().__init__(address, Handler, bind_and_activate=False)
        self.api = api
        self.token = token
        self.closing = threading.Event()


@dataclass
class RunningSandbox:
    """A sandbox cluster serving in a background thread."""

    server: SandboxHTTPServer
    store: Store
    controller: Controller
    token: str | None = None
    saver: state.StateSaver | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def clock(self) -> Clock:
        """The sandbox's clock; ``clock.advance(seconds)`` simulates idle time."""
        return self.store.clock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig_text(self) -> str:
        """Kubeconfig YAML for this sandbox (holds the token if one is set)."""
        return kubeconfig_text(self.url, self.token)

    def write_kubeconfig(self, path: str) -> str:
        """Write the kubeconfig (mode 0600) and return its path."""
        return write_kubeconfig(path, self.kubeconfig_text())

    def stop(self) -> None:
        """Stop serving and the controller, and save the state file if there is one."""
        self.server.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.controller.stop()
        if self.saver is not None:
            self.saver.stop()


def start(
    *,
    port: int = 0,
    state_file: str | None = None,
    token: str | None = None,
    config: SandboxConfig | None = None,
    seed: list[dict] | None = None,
    kubeconfig: str | None = None,
) -> RunningSandbox:
    """Start a sandbox cluster on 127.0.0.1:``port`` (0: any free port) in the background.

    ``seed`` objects are created before it serves, unless they exist already;
    ``kubeconfig`` is written before the port accepts connections.
    """
    store = Store()
    if state_file:
        state.load(store, state_file)
    api = Api(store)
    ensure_cluster_basics(api)
    seed_documents(api, seed or [])
    controller = Controller(api, config or SandboxConfig())
    server = SandboxHTTPServer(("127.0.0.1", port), api, token)
    try:
        server.server_bind()
        if kubeconfig:
            url = f"http://127.0.0.1:{server.server_port}"
            write_kubeconfig(kubeconfig, kubeconfig_text(url, token))
        server.server_activate()
    except BaseException:
        server.server_close()
        raise
    saver = state.StateSaver(store, state_file) if state_file else None
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sandbox-http", daemon=True
    )
    thread.start()
    controller.start()
    if saver is not None:
        saver.start()
    return RunningSandbox(server, store, controller, token, saver, thread)
