"""OCI chart repositories: push and pull charts with the Helm SDK, list chart versions.

Plain Python (no Flask). A repository is ``host[:port]/path`` (``oci://`` optional);
a chart lands at ``oci://host[:port]/path/<name>:<version>``. Credentials go to a
Helm registry configuration in a private temporary directory, never Helm's own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.helm.charts import (
    PackagedChart,
    is_semver,
    sort_versions,
    tag_for_version,
    version_from_tag,
)
from jobs.oci.registry import Credentials, NotFoundError, RegistryError, list_tags


class ChartRepositoryError(Exception):
    """A push, pull or listing failed; the message says why and never holds a password."""


@dataclass(frozen=True)
class PushedChart:
    reference: str  # oci://host[:port]/path/name:version
    digest: str  # the OCI manifest digest


def split_repository(repository: str) -> tuple[str, str]:
    """``"oci://host:5000/team/charts/"`` -> ``("host:5000", "team/charts")``."""
    text = repository.strip().removeprefix("oci://").strip("/")
    host, _, path = text.partition("/")
    if not host or any(ch.isspace() for ch in text) or "//" in text:
        raise ChartRepositoryError(
            f"{repository!r} is not a chart repository: use host[:port]/path (oci:// optional)."
        )
    return host, path


def chart_reference(repository: str, name: str, version: str) -> str:
    """The ``oci://`` reference of chart ``name`` at ``version`` in ``repository``."""
    host, path = split_repository(repository)
    return f"oci://{'/'.join(part for part in (host, path, name) if part)}:{version}"


def push_chart(
    packaged: PackagedChart,
    repository: str,
    *,
    username: str | None = None,
    password: str | None = None,
    plain_http: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
) -> PushedChart:
    """Push a packaged chart to an OCI repository with Helm; return its reference and digest."""
    host, path = split_repository(repository)
    remote = f"oci://{host}/{path}".rstrip("/")
    reference = chart_reference(repository, packaged.name, packaged.version)
    with _session(host, username, password, plain_http, work_dir) as (client, tmp):
        archive = tmp / packaged.filename
        archive.write_bytes(packaged.archive)
        what = f"pushing chart {packaged.name} {packaged.version} to {remote}"
        _helm_call(what, password, client.push, archive, remote, plain_http=plain_http)
        tag_ref = f"{reference.rpartition(':')[0]}:{tag_for_version(packaged.version)}"
        descriptor = _helm_call(what, password, client.resolve, tag_ref)
    return PushedChart(reference=reference, digest=str(descriptor["digest"]))


def pull_chart(
    reference: str,
    *,
    username: str | None = None,
    password: str | None = None,
    plain_http: bool = False,
    max_bytes: int = 10 * 1024 * 1024,
    work_dir: str | os.PathLike[str] | None = None,
) -> bytes:
    """The .tgz bytes of ``oci://host/path/name:version``, pulled with Helm.

    The bytes are untrusted: check them with ``jobs.helm.charts.inspect_chart_archive``.
    """
    chart, colon, version = reference.strip().rpartition(":")
    if not colon or "/" in version or not version:
        raise ChartRepositoryError(
            f"{reference!r} is not a chart reference: use oci://host/path/name:version."
        )
    host, path = split_repository(chart)
    with _session(host, username, password, plain_http, work_dir) as (client, tmp):
        destination = tmp / "pulled"
        destination.mkdir()
        _helm_call(
            f"pulling chart {chart}:{version}",
            password,
            client.pull,
            f"oci://{host}/{path}",
            version=version,
            destination=destination,
            plain_http=plain_http,
        )
        archives = list(destination.glob("*.tgz"))
        if len(archives) != 1:
            raise ChartRepositoryError(f"Pulling {reference} gave no single chart archive.")
        if archives[0].stat().st_size > max_bytes:
            raise ChartRepositoryError(
                f"The chart {reference} is larger than the limit of {max_bytes} bytes."
            )
        return archives[0].read_bytes()


def chart_versions(
    repository: str,
    name: str,
    *,
    username: str | None = None,
    password: str | None = None,
    plain_http: bool = False,
) -> list[str]:
    """The SemVer versions of chart ``name`` in ``repository``, newest first ([] if none)."""
    host, path = split_repository(repository)
    repo = "/".join(part for part in (host, path, name) if part)
    auth = Credentials(username, password or "") if username else None
    try:
        tags = list_tags(repo, auth=auth, plain_http=plain_http)
    except NotFoundError:
        return []
    except RegistryError as exc:
        raise ChartRepositoryError(f"Listing the versions of chart {name} failed: {exc}") from exc
    return sort_versions([version_from_tag(tag) for tag in tags])


@contextmanager
def _session(
    host: str,
    username: str | None,
    password: str | None,
    plain_http: bool,
    work_dir: str | os.PathLike[str] | None,
) -> Iterator[tuple[Any, Path]]:
    """A Helm registry client logged in to ``host`` and a private directory, both removed after."""
    import helm_python  # lazily: never load Go's runtime before RQ forks

    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slipway-oci-", dir=work_dir) as tmp:
        root = Path(tmp)
        config = root / "registry-config.json"
        with helm_python.RegistryClient(plain_http=plain_http, credentials_file=config) as client:
            if username:
                _helm_call(
                    f"signing in to {host} as {username!r}",
                    password,
                    client.login,
                    host,
                    username,
                    password or "",
                    plain_http=plain_http,
                )
            yield client, root


def _helm_call(what: str, password: str | None, function: Any, *args: Any, **kwargs: Any) -> Any:
    import helm_python  # lazily: never load Go's runtime before RQ forks

    try:
        return function(*args, **kwargs)
    except helm_python.HelmError as exc:
        detail = str(exc)
        if password and password in detail:
            # Drop the original too: a traceback of it would carry the password.
            raise ChartRepositoryError(
                f"Helm failed {what}: {detail.replace(password, '***')}"
            ) from None
        raise ChartRepositoryError(f"Helm failed {what}: {detail}") from exc


def parse_chart_reference(reference: str) -> tuple[str, str, str]:
    """``oci://host[:port]/path/name:version`` -> (host, repository path with name, version).

    Raises ``ValueError`` with a message a person can act on.
    """

    text = reference.strip()
    if not text.startswith("oci://"):
        raise ValueError("Write the chart as oci://host[:port]/path/name:version.")
    chart, colon, version = text.removeprefix("oci://").rpartition(":")
    host, _, path = chart.partition("/")
    if not colon or not host or not path or "/" in version or any(c.isspace() for c in text):
        raise ValueError("Write the chart as oci://host[:port]/path/name:version.")
    if not is_semver(version.replace("_", "+")):
        raise ValueError(f"The chart version {version!r} is not a SemVer 2 version.")
    return host, path, version
