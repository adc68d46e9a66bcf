"""Install what ``make run`` and ``make test`` need: Debian packages, then ``.venv``.

Run with the system ``python3`` (standard library only)::

    python3 sandbox/bootstrap.py run     # redis-server, docker-registry, .venv
    python3 sandbox/bootstrap.py test    # + docker.io, chromium, skopeo, postgresql, kubectl

Debian packages are installed only when their program is missing, with
``apt-get install -y --no-install-recommends`` (apt's output goes to
``.run/apt.log``). Where that is impossible (not root, no apt-get, install
failed) it prints one line saying what to install and exits 1. The venv is
(re)installed only when requirements.txt or pyproject.toml changed since the
last install; the project itself goes in editable (it registers the ``flask``
plugin commands ``images`` and ``demo``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
REQUIREMENTS = ROOT / "requirements.txt"
PYPROJECT = ROOT / "pyproject.toml"

# program -> Debian package that provides it
RUN_PROGRAMS = {
    "/usr/bin/redis-server": "redis-server",
    "/usr/bin/docker-registry": "docker-registry",
}
TEST_PROGRAMS = {
    **RUN_PROGRAMS,
    "/usr/sbin/dockerd": "docker.io",
    "/usr/bin/chromium": "chromium",
    "/usr/bin/skopeo": "skopeo",
    # The server itself lives in /usr/lib/postgresql/<version>/bin.
    "/usr/bin/pg_ctlcluster": "postgresql",
    # Debian's kubectl comes in kubernetes-client; another kubectl on PATH also does.
    "/usr/bin/kubectl": "kubernetes-client",
}
PROGRAMS = {"run": RUN_PROGRAMS, "test": TEST_PROGRAMS}


class BootstrapError(RuntimeError):
    """Something to install that this script could not install; the message says what."""


def _found(program: str) -> bool:
    return os.path.exists(program) or shutil.which(os.path.basename(program)) is not None


def missing_packages(programs: dict[str, str]) -> dict[str, str]:
    """``{program: package}`` for every program that is not installed."""
    return {prog: pkg for prog, pkg in programs.items() if not _found(prog)}


def _install_line(missing: dict[str, str]) -> str:
    programs = ", ".join(missing)
    names = list(dict.fromkeys(missing.values()))
    packages = " ".join(names)
    noun = "package" if len(names) == 1 else "packages"
    return f"missing {programs}: install the Debian {noun} {packages} (apt-get install {packages})"


def _apt(args: list[str], log: Path) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with log.open("ab") as handle:
        handle.write(f"\n$ apt-get {' '.join(args)}\n".encode())
        handle.flush()
        result = subprocess.run(
            ["apt-get", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
    return result.returncode == 0


def install_debian_packages(programs: dict[str, str], *, force: bool = False) -> None:
    """Install the packages of missing programs, or raise with the line to show.

    ``force`` installs every package named, whether or not its program exists.
    """
    missing = dict(programs) if force else missing_packages(programs)
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BootstrapError(_install_line(missing))
    RUN_DIR.mkdir(exist_ok=True)
    log = RUN_DIR / "apt.log"
    packages = list(dict.fromkeys(missing.values()))
    print(f"installing Debian packages: {' '.join(packages)} (log: {log.relative_to(ROOT)})")
    _apt(["update", "-q"], log)
    if not _apt(["install", "-y", "-q", "--no-install-recommends", *packages], log):
        raise BootstrapError(
            f"apt-get install failed (see {log}): " + _install_line(missing_packages(programs))
        )
    still = {} if force else missing_packages(programs)
    if still:
        raise BootstrapError(_install_line(still))
    for package in packages:
        print(f"installed Debian package {package}")


def _requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + PYPROJECT.read_bytes()).hexdigest()


def _create_venv() -> None:
    print("creating .venv")
    if _make_venv():
        return
    # Debian's own python3 needs python3.X-venv for ensurepip.
    venv_package = f"python3.{sys.version_info.minor}-venv"
    install_debian_packages({f"{sys.executable} -m venv": venv_package}, force=True)
    if not _make_venv():
        raise BootstrapError(_install_line({f"{sys.executable} -m venv": venv_package}))


def _make_venv() -> bool:
    shutil.rmtree(VENV, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, "-m", "venv", str(VENV)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode == 0 and (VENV / "bin" / "python").exists()


def install_venv() -> None:
    """Create ``.venv`` and pip-install requirements.txt unless already done for this file."""
    python = VENV / "bin" / "python"
    wanted = _requirements_hash()
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    RUN_DIR.mkdir(exist_ok=True)
    log = RUN_DIR / "pip.log"
    if not python.exists():
        _create_venv()
    print(f"installing Python packages into .venv (log: {log.relative_to(ROOT)}) …")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    with log.open("wb") as handle:
        for what, args in (
            ("-r requirements.txt", ["-r", str(REQUIREMENTS)]),
            # No build isolation: the venv's own setuptools builds it, offline.
            ("-e .", ["--no-deps", "--no-build-isolation", "-e", str(ROOT)]),
        ):
            result = subprocess.run(
                pip + args, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            if result.returncode != 0:
                tail = log.read_text(errors="replace").splitlines()[-15:]
                raise BootstrapError(f"pip install {what} failed:\n  " + "\n  ".join(tail))
    STAMP.write_text(wanted + "\n")


def main(argv: list[str]) -> int:
    purpose = argv[0] if argv else "test"
    if purpose not in PROGRAMS:
        print(f"usage: {sys.argv[0]} [run|test]", file=sys.stderr)
        return 2
    try:
        install_debian_packages(PROGRAMS[purpose])
        install_venv()
    except BootstrapError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
