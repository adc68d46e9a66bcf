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
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobs.helm.values import dump_values
from jobs.kube.safe_yaml import YamlInputError, load_mapping


class ChartError(ValueError):
    """A chart archive that cannot be used; the message says why."""


@dataclass(frozen=True)
class ChartInfo:
    name: str
    version: str
    app_version: str | None
    values_yaml: str


# What a chart archive may hold: far beyond real charts, far below a decompression bomb.
MAX_CHART_ENTRIES = 2000
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_CHART_YAML_BYTES = 64 * 1024
MAX_VALUES_BYTES = 512 * 1024
MAX_MESSAGE_LENGTH = 300
MAX_RENDERED_BYTES = 10 * 1024 * 1024
NOT_AN_ARCHIVE = "This is not a chart archive (.tgz): it is not a gzip'd tar file."
# Helm's rule for chart names (lint: "chart name must be lower case letters, digits and '-'").
CHART_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# Absolute file paths of this machine (work directories, temp files): never shown to a person.
_PATH_RE = re.compile(
    r"(?:/(?:tmp|var|home|root|work|usr|opt|srv|run|mnt|data|private|proc)(?:/[^\s:;,'\"]+)+)"
)


def short_message(text: str) -> str:
    """A refusal a person can read: one line, no server paths, at most 300 characters."""
    text = _PATH_RE.sub("(path)", " ".join(str(text).split()))
    return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1] + "…"


def _gunzip(data: bytes, limit: int) -> bytes:
    """The tar inside a .tgz, decompressed in chunks and abandoned past ``limit`` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    total = 0
    pending = data
    try:
        while pending and not inflater.eof:
            chunk = inflater.decompress(pending, 1024 * 1024)
            pending = inflater.unconsumed_tail
            total += len(chunk)
            if total > limit:
                raise ChartError(
                    f"The chart archive unpacks to more than {limit // (1024 * 1024)} MiB."
                )
            parts.append(chunk)
    except zlib.error as exc:
        raise ChartError(
            "This is not a chart archive (.tgz): it is not a gzip'd tar file."
        ) from exc
    if not inflater.eof:
        raise ChartError("This is not a chart archive (.tgz): the gzip data is cut short.")
    return b"".join(parts)


@dataclass(frozen=True)
class ArchiveContents:
    """What the checks read from an archive: its top folder and the top chart's two files."""

    top: str
    chart_yaml: str
    values_yaml: str


def check_archive_entries(
    data: bytes,
    max_bytes: int,
    *,
    max_values_bytes: int = MAX_VALUES_BYTES,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
) -> ArchiveContents:
    """Refuse archives too big, too many files, entries that escape, and not one chart.

    The archive is decompressed in chunks up to ``max_unpacked_bytes`` (a bomb
    stops there) and its member list read; nothing is written to disk.
    """
    if not data:
        raise ChartError("The chart archive is empty.")
    if len(data) > max_bytes:
        raise ChartError(f"The chart archive is larger than {max_bytes // (1024 * 1024)} MiB.")
    tar = _gunzip(data, max_unpacked_bytes)
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
            members = []
            for member in archive:
                members.append(member)
                if len(members) > MAX_CHART_ENTRIES:
                    raise ChartError(f"The chart archive has more than {MAX_CHART_ENTRIES} files.")
            files = {}
            for member in members:
                _check_member(member)
                if member.name in files:
                    raise ChartError(f"The archive holds {member.name!r} twice.")
                files[member.name] = member
            tops = {name.split("/", 1)[0] for name in files}
            if len(tops) != 1:
                raise ChartError(
                    f"A chart archive holds one folder (the chart); this one holds {len(tops)}."
                )
            top = tops.pop()
            chart_yaml = _member_text(archive, files, f"{top}/Chart.yaml", MAX_CHART_YAML_BYTES)
            values_yaml = _member_text(archive, files, f"{top}/values.yaml", max_values_bytes)
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise ChartError(
            "This is not a chart archive (.tgz): it is not a gzip'd tar file."
        ) from exc
    if chart_yaml is None:
        raise ChartError(f"Chart.yaml file is missing from the chart's folder {top!r}.")
    return ArchiveContents(top, chart_yaml, values_yaml or "")


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in name.split("/"):
        raise ChartError(f"The archive entry {short_message(name)!r} points outside the chart.")
    if member.issym() or member.islnk():
        raise ChartError(
            f"The archive entry {short_message(name)!r} is a link; links are not allowed."
        )
    if not (member.isfile() or member.isdir()):
        raise ChartError(f"The archive entry {short_message(name)!r} is not a regular file.")


def _member_text(archive, files: dict, name: str, limit: int) -> str | None:
    member = files.get(name)
    if member is None:
        return None
    if member.size > limit:
        raise ChartError(f"{name.split('/', 1)[1]} is larger than {limit // 1024} KiB.")
    return archive.extractfile(member).read().decode("utf-8")


def check_chart_metadata(chart_yaml: str) -> dict[str, Any]:
    """Chart.yaml as packaging needs it: apiVersion v1/v2, a Helm name, SemVer, an application."""
    try:
        metadata = load_mapping(chart_yaml, MAX_CHART_YAML_BYTES, what="Chart.yaml")
    except YamlInputError as exc:
        raise ChartError(short_message(str(exc))) from exc
    if metadata.get("apiVersion") not in ("v1", "v2"):
        raise ChartError("Chart.yaml needs apiVersion v2 (or v1).")
    name = metadata.get("name")
    if not isinstance(name, str) or not CHART_NAME_RE.match(name):
        raise ChartError(
            "The chart name is invalid: use up to 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit."
        )
    version = metadata.get("version")
    if not isinstance(version, str) or not is_semver(version):
        raise ChartError("The chart version in Chart.yaml is not a SemVer 2 version (like 1.2.3).")
    if metadata.get("type", "application") != "application":
        raise ChartError("This is a library chart: only application charts can be deployed.")
    return metadata


def check_chart_contents(
    data: bytes, max_bytes: int, *, max_values_bytes: int = MAX_VALUES_BYTES
) -> dict[str, Any]:
    """Every check that needs no Helm: the archive, Chart.yaml and values.yaml; the metadata."""
    contents = check_archive_entries(data, max_bytes, max_values_bytes=max_values_bytes)
    metadata = check_chart_metadata(contents.chart_yaml)
    try:
        load_mapping(contents.values_yaml, max_values_bytes, what="values.yaml")
    except YamlInputError as exc:
        raise ChartError(short_message(str(exc))) from exc
    return metadata


def inspect_chart_archive(
    data: bytes, max_bytes: int, *, max_values_bytes: int = MAX_VALUES_BYTES
) -> ChartInfo:
    """Check a .tgz (sizes, files, Chart.yaml) and load it with the Helm SDK.

    Returns its name, version and values. Every refusal is a short ``ChartError``.
    """
    check_chart_contents(data, max_bytes, max_values_bytes=max_values_bytes)
    import helm_python  # lazily: never load Go's runtime before RQ forks

    try:
        with helm_python.Chart.load_archive(data) as chart:
            metadata = chart.metadata
            values = chart.values
    except helm_python.HelmError as exc:
        raise ChartError(short_message(f"Helm cannot load this chart: {exc}")) from exc
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
        self.messages = [short_message(message) for message in messages[:10]]
        more = f" (and {len(messages) - 10} more)" if len(messages) > 10 else ""
        super().__init__(f"Helm lint failed for chart {chart}: " + "; ".join(self.messages) + more)


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


def check_chart_renders(
    archive: bytes,
    *,
    values_yaml: str | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    work_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Lint and render the chart as packaging will (with ``values_yaml`` when given).

    Returns how many manifests it renders; raises ``ChartError``/``ChartLintError``.
    Rendering runs templates, so this belongs in a job, never in a web request.
    """
    metadata = check_chart_contents(archive, max_bytes)
    import helm_python  # lazily: never load Go's runtime before RQ forks

    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slipway-chart-", dir=work_dir) as tmp:
        root = Path(tmp).resolve()
        try:
            with helm_python.Chart.load_archive(archive) as chart:
                chart_dir = Path(chart.save_dir(root / "chart")).resolve()
        except helm_python.HelmError as exc:
            raise ChartError(short_message(f"Helm cannot load this chart: {exc}")) from exc
        if not chart_dir.is_relative_to(root / "chart"):
            raise ChartError("The chart was written outside its working directory.")
        if values_yaml is not None:
            (chart_dir / "values.yaml").write_text(values_yaml)
        return _lint(chart_dir, str(metadata.get("name", "")))


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
    check_chart_contents(archive, max_bytes)
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
            raise ChartError(short_message(f"Helm cannot load this chart: {exc}")) from exc
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
            raise ChartError(short_message(f"Helm cannot package this chart: {exc}")) from exc
        data = Path(output).read_bytes()
    return PackagedChart(
        name=str(metadata.get("name", "")),
        version=version,
        app_version=app_version,
        archive=data,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def _lint(chart_dir: Path, name: str) -> int:
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
            manifests = chart.render(name="release", namespace="default")
    except helm_python.HelmError as exc:
        raise ChartLintError(name, [f"render: {exc}"]) from exc
    size = sum(len(text.encode()) for text in manifests.values())
    if size > MAX_RENDERED_BYTES:
        limit = MAX_RENDERED_BYTES // (1024 * 1024)
        raise ChartLintError(name, [f"render: the manifests are larger than {limit} MiB"])
    return len(manifests)
