"""Helm chart archives: safety checks, inspection, SemVer and packaging through the Helm SDK.

Plain Python (no Flask). Registry work (push, pull, versions) is in ``jobs.helm.repository``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobs.helm.values import dump_values


class ChartError(ValueError):
    """A chart archive that cannot be used; the message says why."""


@dataclass(frozen=True)
class ChartInfo:
    name: str
    version: str
    app_version: str | None
    values_yaml: str


def check_archive_entries(data: bytes, max_bytes: int) -> None:
    """Refuse oversized archives and entries that could escape a directory.

    Only the member list is read; nothing is extracted.
    """
    if not data:
        raise ChartError("The chart archive is empty.")
    if len(data) > max_bytes:
        raise ChartError(f"The chart archive is larger than {max_bytes // (1024 * 1024)} MiB.")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = archive.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChartError(
            "This is not a chart archive (.tgz): it is not a gzip'd tar file."
        ) from exc
    if not members:
        raise ChartError("The chart archive has no files.")
    for member in members:
        name = member.name
        if name.startswith("/") or ".." in name.split("/"):
            raise ChartError(f"The archive entry {name!r} points outside the chart.")
        if member.issym() or member.islnk():
            raise ChartError(f"The archive entry {name!r} is a link; links are not allowed.")
        if not (member.isfile() or member.isdir()):
            raise ChartError(f"The archive entry {name!r} is not a regular file.")


def inspect_chart_archive(data: bytes, max_bytes: int) -> ChartInfo:
    """Check a .tgz and load it with the Helm SDK; return its name, version and values."""
    check_archive_entries(data, max_bytes)
    import helm_python  # lazily: never load Go's runtime before RQ forks

    try:
        with helm_python.Chart.load_archive(data) as chart:
            metadata = chart.metadata
            values = chart.values
    except helm_python.HelmError as exc:
        raise ChartError(f"Helm cannot load this chart: {exc}") from exc
    return ChartInfo(
        name=metadata.get("name", ""),
        version=metadata.get("version", ""),
        app_version=metadata.get("appVersion"),
        values_yaml=yaml.safe_dump(values, sort_keys=False) if values else "",
    )


# SemVer 2.0.0 (semver.org), ASCII digits only.
_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRERELEASE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER_RE = re.compile(
    rf"({_NUMBER})\.({_NUMBER})\.({_NUMBER})"
    rf"(?:-({_PRERELEASE_ID}(?:\.{_PRERELEASE_ID})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
MAX_CHART_VERSION_LENGTH = 64
FIRST_CHART_VERSION = "1.0.0"


@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> SemVer | None:
        """The version ``text`` names, or None when it is not SemVer 2."""
        match = _SEMVER_RE.fullmatch(text)
        if not match:
            return None
        major, minor, patch, prerelease, build = match.groups()
        return cls(
            int(major),
            int(minor),
            int(patch),
            tuple(prerelease.split(".")) if prerelease else (),
            build or "",
        )

    def precedence(self) -> tuple:
        """A sort key with semver.org precedence (build metadata ignored)."""
        identifiers = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)


def is_semver(text: str) -> bool:
    """True if ``text`` is a SemVer 2 version (``1.2.3``, ``1.0.0-rc.1+build.5``)."""
    return SemVer.parse(text) is not None


def check_chart_version(version: str) -> None:
    """Raise ``ChartError`` unless ``version`` can be a chart version (SemVer 2, <= 64 chars)."""
    if not is_semver(version):
        raise ChartError(
            f"The chart version {version!r} is not a SemVer 2 version (like 1.2.3 or 1.2.3-rc.1)."
        )
    if len(version) > MAX_CHART_VERSION_LENGTH:
        raise ChartError(f"The chart version is longer than {MAX_CHART_VERSION_LENGTH} characters.")


def build_metadata_problem(version: str) -> str | None:
    """Why a new chart version with SemVer build metadata (``+…``) is refused, or None.

    Helm pushes ``1.0.0+b`` to OCI as the tag ``1.0.0_b`` (a tag cannot hold ``+``), and
    two versions differing only in build metadata are the same version to SemVer.
    """
    if "+" not in version:
        return None
    core = version.split("+", 1)[0]
    return (
        f"The chart version {version!r} has build metadata (+…): Helm would push it as the "
        f"OCI tag {tag_for_version(version)!r} and SemVer treats it as {core}. Use a "
        f"pre-release instead, e.g. {core}-{version.split('+', 1)[1]}."
    )


def existing_chart_message(name: str, version: str, repository: str) -> str:
    return (
        f"Chart {name} {version} is already in oci://{repository}; chart versions are "
        "immutable: choose another chart version."
    )


def version_from_tag(tag: str) -> str:
    """The chart version an OCI tag stands for (Helm writes ``+`` as ``_`` in tags)."""
    return tag.replace("_", "+")


def tag_for_version(version: str) -> str:
    """The OCI tag Helm pushes a chart version under."""
    return version.replace("+", "_")


def sort_versions(versions: list[str]) -> list[str]:
    """The SemVer versions among ``versions``, newest first; others are dropped."""
    parsed = [(SemVer.parse(v), v) for v in versions]
    valid = [(semver, v) for semver, v in parsed if semver is not None]
    valid.sort(key=lambda pair: pair[0].precedence(), reverse=True)
    return [v for _, v in valid]


def next_chart_version(existing_tags: list[str]) -> str:
    """The suggested next version: the newest one with its patch raised, or 1.0.0.

    Tags that are not SemVer are ignored. A newest prerelease (``2.0.0-rc.1``)
    suggests its release (``2.0.0``), as ``npm version patch`` does.
    """
    versions = sort_versions([version_from_tag(tag) for tag in existing_tags])
    if not versions:
        return FIRST_CHART_VERSION
    newest = SemVer.parse(versions[0])
    assert newest is not None
    if newest.prerelease:
        return f"{newest.major}.{newest.minor}.{newest.patch}"
    return f"{newest.major}.{newest.minor}.{newest.patch + 1}"


class ChartLintError(ChartError):
    """Helm lint (or a trial render) found errors; ``messages`` holds them (``path: message``)."""

    def __init__(self, chart: str, messages: list[str]):
        self.chart = chart
        self.messages = messages
        super().__init__(f"Helm lint failed for chart {chart}: " + "; ".join(messages))


@dataclass(frozen=True)
class PackagedChart:
    name: str
    version: str
    app_version: str
    archive: bytes = field(repr=False)
    digest: str
    size: int

    @property
    def filename(self) -> str:
        """The download name Helm gives the archive."""
        return f"{self.name}-{self.version}.tgz"


def package_chart(
    archive: bytes,
    *,
    values: dict[str, Any],
    version: str,
    app_version: str,
    max_bytes: int = 10 * 1024 * 1024,
    work_dir: str | os.PathLike[str] | None = None,
) -> PackagedChart:
    """Package a chart with new values, version and appVersion, after Helm lint passes.

    The archive is loaded by the Helm SDK and written back by it into a
    private temporary directory (under ``work_dir`` when given), removed
    afterwards; values.yaml is replaced by ``values``. Lint errors, and errors
    of a trial render (a failing ``required``), raise ``ChartLintError`` with
    Helm's messages; lint warnings are allowed.
    """
    check_archive_entries(archive, max_bytes)
    check_chart_version(version)
    if not app_version or len(app_version) > 128 or not app_version.isprintable():
        raise ChartError("The appVersion must be one line of at most 128 printable characters.")
    values_text = dump_values(values)
    import helm_python  # lazily: never load Go's runtime before RQ forks

    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slipway-chart-", dir=work_dir) as tmp:
        root = Path(tmp).resolve()
        try:
            with helm_python.Chart.load_archive(archive) as chart:
                chart_dir = Path(chart.save_dir(root / "chart")).resolve()
        except helm_python.HelmError as exc:
            raise ChartError(f"Helm cannot load this chart: {exc}") from exc
        if not chart_dir.is_relative_to(root / "chart"):
            raise ChartError("The chart was written outside its working directory.")
        metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
        metadata["version"] = version
        metadata["appVersion"] = app_version
        (chart_dir / "Chart.yaml").write_text(
            yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
        )
        (chart_dir / "values.yaml").write_text(values_text)
        _lint(chart_dir, metadata.get("name", ""))
        try:
            output = helm_python.package(chart_dir, destination=root / "out")
        except helm_python.HelmError as exc:
            raise ChartError(f"Helm cannot package this chart: {exc}") from exc
        data = Path(output).read_bytes()
    return PackagedChart(
        name=str(metadata.get("name", "")),
        version=version,
        app_version=app_version,
        archive=data,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def _lint(chart_dir: Path, name: str) -> None:
    import helm_python  # lazily: never load Go's runtime before RQ forks

    report = helm_python.lint(chart_dir)
    errors = [
        f"{message.get('path', '')}: {str(message.get('error', '')).strip()}"
        for message in report.get("messages") or []
        if message.get("severity", 0) >= 3
    ]
    errors = errors or [str(error).strip() for error in report.get("errors") or []]
    if errors:
        raise ChartLintError(name, errors)
    # Lint lets a failing `required` pass as a warning; an install would stop there.
    try:
        with helm_python.Chart.load(chart_dir) as chart:
            chart.render(name="release", namespace="default")
    except helm_python.HelmError as exc:
        raise ChartLintError(name, [f"render: {exc}"]) from exc
