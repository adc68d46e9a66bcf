"""``python -m sandbox.stack run``: the whole demo stack of ``make run`` in one terminal.

Starts Redis, a docker-registry with the demo images, the sandbox cluster, the
database schema and demo data, the web app (gunicorn) and an RQ worker, checks
the web app really answers, prints the URL and the demo users, and stops all of
it on Ctrl-C / SIGTERM, or when one part dies (showing that part's log).

State lives under ``.run/`` so a second start finds what the first left:
registry storage, the sandbox cluster's state file and kubeconfig, the secret
key and the ports used last time. The database and demo passwords live in the
instance folder (``instance/`` by default).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from sandbox import demo_data, services

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
LOGS = RUN_DIR / "logs"
# A restarted child (the worker) that dies this often within a minute stops the stack.
MAX_RESTARTS = 5
PORTS_FILE = RUN_DIR / "ports.json"
SEEDED_FILE = RUN_DIR / "seeded.json"
SECRET_FILE = RUN_DIR / "secret_key"
KUBE_STATE = RUN_DIR / "kube-state.json"
KUBECONFIG = RUN_DIR / "kubeconfig"
PID_FILE = RUN_DIR / "stack.pid"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
# Every process the stack starts carries this, so leftovers of a killed stack can be found.
MARK = "SLIPWAY_STACK_DIR"
WEB_PORT = 8000
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StackError(RuntimeError):
    """A part of the stack failed to start; the message says which and why."""


class Stopping(Exception):
    """A stop signal arrived."""


@dataclass
class Child:
    """A process the stack started (in its own process group) and its log."""

    name: str
    proc: subprocess.Popen
    log: Path
    # Set for a child that is started again when it dies (the RQ worker), not stopping all.
    restart_args: list[str] | None = None
    restart_env: dict | None = None
    restarts: list[float] = field(default_factory=list)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after ``timeout``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
                _reap_group(self.proc.pid, timeout)
                return
            except subprocess.TimeoutExpired:
                continue


def _reap_group(pgid: int, timeout: float) -> None:
    """Wait until no process of group ``pgid`` is left (a leader may exit before its workers)."""
    deadline = time.monotonic() + timeout
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(f"process group {pgid}", timeout)
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "  (no log)"
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def secret_key() -> str:
    """The stack's SECRET_KEY, generated once and kept in ``.run/secret_key`` (0600)."""
    if SECRET_FILE.exists():
        return SECRET_FILE.read_text().strip()
    key = secrets.token_urlsafe(48)
    _write_private(SECRET_FILE, key + "\n")
    return key


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port and we may bind it."""
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(preferred: int | None) -> int:
    """``preferred`` when it is free, else any free port."""
    if preferred and port_is_free(preferred):
        return preferred
    return services.free_port()


def _environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


def _started_here(pid: int) -> bool:
    if _environ_of(pid).get(MARK) == str(RUN_DIR):
        return True
    # redis-server rewrites its environment block (for its process title): look at its cwd.
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    return cwd == RUN_DIR or RUN_DIR in cwd.parents


def leftover_pids() -> list[int]:
    """Processes started by an earlier stack of this checkout that was killed hard."""
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != own and _started_here(int(entry.name)):
            found.append(int(entry.name))
    return found


def claim_run_dir() -> None:
    """Refuse a second stack on the same ``.run/``; clear what a killed one left behind."""
    RUN_DIR.mkdir(exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    try:
        other = int(PID_FILE.read_text())
    except (FileNotFoundError, ValueError):
        other = 0
    if other and other != os.getpid() and _environ_of(other).get(MARK) == str(RUN_DIR):
        raise StackError(f"make run is already running here (pid {other}); stop it first")
    leftovers = leftover_pids()
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    if leftovers:
        print(f"stopped {len(leftovers)} processes left by an earlier make run", flush=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in leftovers):
            time.sleep(0.1)
    PID_FILE.write_text(f"{os.getpid()}\n")
    # Each run's logs start empty, so a failure shows this run's lines.
    for log in [
        *LOGS.glob("*.log"),
        RUN_DIR / "redis" / "redis.log",
        RUN_DIR / "registry" / "registry.log",
    ]:
        log.unlink(missing_ok=True)


def images_present(registry_address: str) -> bool:
    """True when the registry already holds every demo image (its storage is kept)."""
    accept = ", ".join(
        [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
    )
    for service in demo_data.SHOP_SERVICES + demo_data.ANALYTICS_SERVICES:
        url = (
            f"http://{registry_address}/v2/{demo_data.DEMO_NAMESPACE}/{service.name}"
            f"/manifests/{service.tag}"
        )
        if requests.head(url, headers={"Accept": accept}, timeout=5).status_code != 200:
            return False
    return True


class Stack:
    """The processes of one ``make run`` and the order to stop them in."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.env = dict(os.environ)

    def adopt(self, name: str, service: services.Service, log_name: str) -> Child:
        child = Child(name, service.proc, service.workdir / log_name)
        self.children.append(child)
        return child

    def spawn(
        self, name: str, args: list[str], env: dict | None = None, *, restart: bool = False
    ) -> Child:
        """Start ``args`` in its own process group, output to ``.run/logs/<name>.log``.

        ``restart``: when it dies, :meth:`restart_dead` starts it again (as a supervisor
        such as systemd's ``Restart=always`` would) instead of the stack stopping.
        """
        log_path = LOGS / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, proc, log_path)
        if restart:
            child.restart_args, child.restart_env = args, env
        self.children.append(child)
        return child

    def restart_dead(self) -> list[str]:
        """Start again every dead child that restarts; what happened, for the terminal.

        A child that died more than ``MAX_RESTARTS`` times within a minute is left dead,
        so :meth:`dead_child` reports it and the stack stops with its log.
        """
        said = []
        for child in list(self.children):
            if child.restart_args is None or child.proc.poll() is None:
                continue
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < 60]
            if len(child.restarts) >= MAX_RESTARTS:
                continue
            code = child.proc.returncode
            self.children.remove(child)
            fresh = self.spawn(child.name, child.restart_args, child.restart_env, restart=True)
            fresh.restarts = [*child.restarts, now]
            said.append(f"{child.name} exited with code {code}; started it again")
        return said

    def step(
        self, title: str, args: list[str], log_name: str = "setup", *, secret_output: bool = False
    ) -> None:
        """Run one set-up command to completion; fail with its log's tail.

        ``secret_output``: its standard output holds secrets, so only its errors are logged.
        """
        log_path = LOGS / f"{log_name}.log"
        with log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(args)}\n".encode())
            log.flush()
            result = subprocess.run(
                args,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if secret_output else log,
                stderr=log,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(
                f"{title} failed (exit {result.returncode}); "
                f"last lines of {log_path.relative_to(ROOT)}:\n{tail(log_path)}"
            )

    def dead_child(self) -> Child | None:
        """A dead child that is not (or no longer) restarted."""
        self.restart_dead()
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until true; fail if it times out or a child dies meanwhile."""
        deadline = time.monotonic() + timeout
        while not ready():
            dead = self.dead_child()
            if dead is not None:
                raise StackError(died_message(dead))
            if time.monotonic() > deadline:
                raise StackError(f"{what} not ready after {timeout:.0f}s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every child, last started first."""
        for child in reversed(self.children):
            child.stop()
        self.children.clear()


def died_message(child: Child) -> str:
    return (
        f"{child.name} exited with code {child.proc.returncode}; "
        f"last lines of {child.log.relative_to(ROOT)}:\n{tail(child.log)}"
    )


def _http_ok(url: str, must_contain: tuple[str, ...] = ()) -> bool:
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return response.status_code == 200 and all(text in response.text for text in must_contain)


def instance_path() -> Path:
    return Path(os.environ.get("SLIPWAY_INSTANCE_PATH") or ROOT / "instance")


def database_identity() -> tuple[str, bool]:
    """A digest naming the database the app will use, and whether it is a new SQLite file."""
    url = os.environ.get("SLIPWAY_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        # A digest, not the URL: it may hold a password and seeded.json is not private.
        return hashlib.sha256(url.encode()).hexdigest(), False
    sqlite = instance_path() / "slipway.sqlite"
    return hashlib.sha256(str(sqlite).encode()).hexdigest(), not sqlite.exists()


def demo_credentials() -> list[tuple[str, str, str]]:
    """(username, password, role) of the demo users, from the seed's 0600 file."""
    from sandbox.demo_seed import DEMO_USERS

    known = {}
    path = instance_path() / "demo-credentials.txt"
    for line in path.read_text().splitlines():
        username, _, password = line.partition(" ")
        known[username] = password
    return [(name, known[name], role.label) for name, role in DEMO_USERS if name in known]


def start_registry(stack: Stack, ports: dict) -> services.Service:
    """The demo registry, on last run's port when free, holding the demo images."""
    registry = services.start_registry(RUN_DIR / "registry", choose_port(ports.get("registry")))
    stack.adopt("registry", registry, "registry.log")
    if not images_present(registry.address):
        print(f"pushing the demo images to {registry.address} …", flush=True)
        demo_data.push_demo_images(registry.address)
    return registry


def start_cluster(stack: Stack, ports: dict, registry_address: str) -> tuple[int, bool]:
    """The sandbox cluster on last run's port when free; (port, whether it started empty).

    The demo's namespaces and workloads are seeded only into a new state file,
    so what releases did survives a restart.
    """
    first_start = not KUBE_STATE.exists()
    port = choose_port(ports.get("kube"))
    KUBECONFIG.unlink(missing_ok=True)
    args = [PYTHON, "-m", "sandbox.kube", "--port", str(port)]
    args += ["--state", str(KUBE_STATE), "--kubeconfig", str(KUBECONFIG)]
    if first_start:
        args += ["--demo-registry", registry_address]
    stack.spawn("sandbox-cluster", args)
    stack.wait_until("the sandbox cluster", KUBECONFIG.exists, timeout=30)
    services.wait_for_port(port)
    return port, first_start


def prepare_cluster(stack: Stack, seeded: dict, registry_address: str, first_start: bool) -> None:
    """Follow a moved registry, and install the demo's Helm releases once."""
    demo_cluster = [PYTHON, "-m", "sandbox.demo_cluster"]
    old_registry = seeded.get("registry")
    if not first_start and old_registry and old_registry != registry_address:
        print(f"the registry moved from {old_registry} to {registry_address}", flush=True)
        stack.step(
            "pointing the sandbox's workloads at the moved registry",
            [*demo_cluster, "retarget", "--kubeconfig", str(KUBECONFIG)]
            + ["--old", old_registry, "--new", registry_address],
        )
    if first_start or not seeded.get("helm_releases"):
        stack.step(
            "installing the demo Helm releases",
            [*demo_cluster, "helm", "--kubeconfig", str(KUBECONFIG)]
            + ["--registry", registry_address],
        )


def prepare_database(stack: Stack, seeded: dict, registry_address: str, kube_url: str) -> None:
    """Apply migrations; seed the demo when the database or an address is new."""
    database, new_database = database_identity()
    instance_path().mkdir(parents=True, exist_ok=True)  # SQLite does not create its folder
    stack.step("applying database migrations", [str(BIN / "flask"), "db", "upgrade"])
    wanted = {
        "registry": registry_address,
        "kube": kube_url,
        "helm_releases": True,
        "database": database,
    }
    credentials = instance_path() / "demo-credentials.txt"
    if not new_database and seeded == wanted and credentials.exists():
        return
    print("seeding the demo data …", flush=True)
    # The seed prints passwords: they are read from its 0600 file instead of its output.
    stack.step(
        "seeding the demo",
        [str(BIN / "flask"), "demo", "seed", "--registry", registry_address]
        + ["--kubeconfig", str(KUBECONFIG), "--no-push"],
        log_name="seed",
        secret_output=True,
    )
    _write_json(SEEDED_FILE, wanted)


def start_app(stack: Stack, port: int) -> str:
    """The web app (gunicorn) and an RQ worker; the URL once the app really answers."""
    web_env = dict(stack.env, SLIPWAY_AUTO_MIGRATE="false")  # migrations ran already
    gunicorn = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    gunicorn += ["--threads", "4", "--access-logfile", "-", "--error-logfile", "-", "wsgi:app"]
    stack.spawn("web", gunicorn, env=web_env)
    stack.spawn("worker", [str(BIN / "flask"), "worker"], restart=True)
    url = f"http://127.0.0.1:{port}"
    stack.wait_until("the web app's /healthz", lambda: _http_ok(f"{url}/healthz"), timeout=60)
    stack.wait_until(
        "the sign-in page",
        lambda: _http_ok(f"{url}/auth/login", ('name="csrf_token"', 'name="password"')),
        timeout=10,
    )
    return url


def start(stack: Stack) -> dict:
    """Start every part; return what the banner shows."""
    claim_run_dir()
    stack.env[MARK] = str(RUN_DIR)
    os.environ[MARK] = str(RUN_DIR)  # services.start_* pass our environment on
    ports = _read_json(PORTS_FILE)
    seeded = _read_json(SEEDED_FILE)

    redis = services.start_redis(RUN_DIR / "redis")
    stack.adopt("redis", redis, "redis.log")
    registry = start_registry(stack, ports)
    kube_port, first_cluster_start = start_cluster(stack, ports, registry.address)
    kube_url = f"http://127.0.0.1:{kube_port}"
    web_port = choose_port(WEB_PORT)
    _write_json(PORTS_FILE, {"registry": registry.port, "kube": kube_port, "web": web_port})
    prepare_cluster(stack, seeded, registry.address, first_cluster_start)

    stack.env.setdefault("SLIPWAY_SECRET_KEY", secret_key())
    stack.env.update(
        FLASK_APP="webapp",
        PYTHONUNBUFFERED="1",
        SLIPWAY_REDIS_URL=redis.extra["url"],
        SLIPWAY_SESSION_COOKIE_SECURE="false",
        SLIPWAY_REMEMBER_COOKIE_SECURE="false",
    )
    prepare_database(stack, seeded, registry.address, kube_url)
    url = start_app(stack, web_port)
    return {"url": url, "registry": registry.address, "kube": kube_url}


def banner(info: dict) -> str:
    users = "\n".join(
        f"    {name:10} {password:24} {role}" for name, password, role in demo_credentials()
    )
    return f"""
Slipway is running: {info["url"]}/

  Sign in as (username, password, role):
{users}

  registry         {info["registry"]}  (demo images under {demo_data.DEMO_NAMESPACE}/)
  sandbox cluster  {info["kube"]}  (kubectl --kubeconfig {KUBECONFIG.relative_to(ROOT)})
  logs             {LOGS.relative_to(ROOT)}/

Press Ctrl-C to stop.
"""


def _raise_stopping(signum: int, frame: object) -> None:
    raise Stopping(signal.Signals(signum).name)


def run() -> int:
    """Start the stack, watch it, stop it; the exit status of ``make run``."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stopping)
    stack = Stack()
    status = 0
    try:
        print(banner(start(stack)), flush=True)
        while True:
            for line in stack.restart_dead():
                print(f"make run: {line}", flush=True)
            dead = stack.dead_child()
            if dead is not None:
                raise StackError(died_message(dead))
            time.sleep(0.5)
    except Stopping:
        print("\nstopping …", flush=True)
    except (StackError, services.MissingDependency, TimeoutError, OSError) as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        stack.stop()
        if PID_FILE.exists() and PID_FILE.read_text().strip() == str(os.getpid()):
            PID_FILE.unlink()
    print("stopped everything make run started.", flush=True)
    return status


def main(argv: list[str]) -> int:
    if argv[:1] != ["run"]:
        print("usage: python -m sandbox.stack run", file=sys.stderr)
        return 2
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
