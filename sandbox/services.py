"""Start and stop the real local services Slipway's demo and tests use.

Each launcher starts one Debian-packaged server as a child process on a free
127.0.0.1 port, waits until it answers, and returns a handle whose ``stop()``
ends it. Nothing here knows about Flask.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests


class MissingDependency(RuntimeError):
    """A system program is not installed and could not be installed."""


def require_program(path: str, package: str) -> str:
    """Return ``path`` if it exists, else raise with the package to install."""
    found = path if os.path.exists(path) else shutil.which(os.path.basename(path))
    if not found:
        raise MissingDependency(f"{path} not found: install the Debian package '{package}'")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Service:
    """A running child process and where it listens."""

    name: str
    proc: subprocess.Popen
    port: int
    workdir: Path
    extra: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _spawn(
    args: list[str], workdir: Path, log_name: str, env: dict | None = None
) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / log_name, "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        env=env,
        start_new_session=True,
    )


def start_redis(workdir: Path, port: int | None = None) -> Service:
    """A throw-away redis-server with no persistence."""
    binary = require_program("/usr/bin/redis-server", "redis-server")
    port = port or free_port()
    proc = _spawn(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        workdir,
        "redis.log",
    )
    wait_for_port(port, proc=proc)
    return Service("redis", proc, port, workdir, {"url": f"redis://127.0.0.1:{port}/0"})


def htpasswd_line(username: str, password: str) -> str:
    """One htpasswd entry with a bcrypt hash, the only kind docker-registry accepts."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{username}:{hashed}\n"


def start_registry(
    workdir: Path,
    port: int | None = None,
    *,
    users: dict[str, str] | None = None,
    token_auth: dict | None = None,
) -> Service:
    """A CNCF distribution 2.8 registry (Debian ``docker-registry``), plain HTTP.

    ``users`` turns on htpasswd basic auth; ``token_auth`` (realm, service,
    issuer, rootcertbundle) turns on bearer-token auth.
    """
    binary = require_program("/usr/bin/docker-registry", "docker-registry")
    port = port or free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
    ]
    if users:
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text("".join(htpasswd_line(u, p) for u, p in users.items()))
        config += ["auth:", "  htpasswd:", "    realm: slipway-test", f"    path: {htpasswd}"]
    elif token_auth:
        config += ["auth:", "  token:"] + [f"    {k}: {v}" for k, v in token_auth.items()]
    (workdir / "config.yml").write_text("\n".join(config) + "\n")
    proc = _spawn([binary, "serve", str(workdir / "config.yml")], workdir, "registry.log")
    wait_for_port(port, proc=proc)
    _wait_http(f"http://127.0.0.1:{port}/v2/", ok=(200, 401))
    return Service("registry", proc, port, workdir, {"users": dict(users or {})})


def _wait_http(url: str, ok: tuple[int, ...], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=1).status_code in ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer {ok} in {timeout}s")
        time.sleep(0.05)


@dataclass
class DockerdService(Service):
    """A dockerd child process; ``base_url`` is its ``unix://`` socket."""

    rundir: Path | None = None

    @property
    def base_url(self) -> str:
        return self.extra["base_url"]

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        if self.rundir is not None:
            shutil.rmtree(self.rundir, ignore_errors=True)


def start_dockerd(workdir: Path, timeout: float = 60.0) -> DockerdService:
    """A private Docker daemon (vfs storage, no iptables, no bridge) with its own roots.

    Runs as root, starts its own containerd, and listens on a unix socket under
    a short /tmp directory (socket paths must stay under ~100 characters).
    Registries on 127.0.0.0/8 are insecure by default for it, so plain-HTTP
    test registries work without configuration.
    """
    import tempfile

    binary = require_program("/usr/sbin/dockerd", "docker.io")
    rundir = Path(tempfile.mkdtemp(prefix="slw-dk-", dir="/tmp"))
    socket_path = rundir / "d.sock"
    data_root = workdir / "data-root"
    data_root.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        "--storage-driver=vfs",
        "--iptables=false",
        "--bridge=none",
        "--data-root", str(data_root),
        "--exec-root", str(rundir / "exec"),
        "-H", f"unix://{socket_path}",
        "--pidfile", str(rundir / "dockerd.pid"),
    ]  # fmt: skip
    env = {**os.environ, "DOCKER_CONFIG": str(workdir / "docker-config")}
    proc = _spawn(args, workdir, "dockerd.log", env=env)
    service = DockerdService(
        "dockerd", proc, 0, workdir, {"base_url": f"unix://{socket_path}"}, rundir=rundir
    )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            service.stop()
            log = (workdir / "dockerd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"dockerd exited with {proc.returncode}:\n{log}")
        if socket_path.exists() and _dockerd_answers(socket_path):
            return service
        if time.monotonic() > deadline:
            service.stop()
            raise TimeoutError(f"dockerd did not answer on {socket_path} in {timeout}s")
        time.sleep(0.1)


def _dockerd_answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(str(socket_path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise MissingDependency(
            f"PostgreSQL's {name} not found: install the Debian package 'postgresql'"
        )
    return found[-1]


@dataclass
class PostgresService(Service):
    """A PostgreSQL server whose data directory is removed when it stops."""

    data_root: Path | None = None

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self.data_root is not None:
            shutil.rmtree(self.data_root, ignore_errors=True)


def start_postgres(workdir: Path, port: int | None = None) -> PostgresService:
    """A throw-away PostgreSQL server (Debian ``postgresql``), trusting 127.0.0.1.

    initdb refuses to run as root, so as root the server runs as the
    ``postgres`` user that Debian's package creates, in a data directory of
    its own under /tmp (test folders are private to root). ``extra["url"]`` is
    a SQLAlchemy URL for the database ``slipway``.
    """
    initdb, postgres = _postgres_bin("initdb"), _postgres_bin("postgres")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="slipway-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    initialised = subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "slipway", "--auth=trust", "-E", "UTF8"],
        capture_output=True,
    )
    if initialised.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {initialised.stderr.decode().strip()}")
    proc = _spawn(
        [
            *run_as,
            postgres,
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(root),
            "-c",
            "fsync=off",
        ],
        workdir,
        "postgres.log",
    )
    service = PostgresService("postgres", proc, port, workdir, {}, data_root=root)
    try:
        wait_for_port(port, proc=proc)
        _createdb(port)
    except Exception:
        service.stop()
        raise
    service.extra["url"] = f"postgresql+psycopg://slipway@127.0.0.1:{port}/slipway"
    return service


def _createdb(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        created = subprocess.run(
            [
                _postgres_bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "slipway",
                "slipway",
            ],
            capture_output=True,
        )
        if created.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"createdb failed: {created.stderr.decode().strip()}")
        time.sleep(0.2)
