"""Helm chart archives: safety checks and inspection through the Helm SDK (no Flask)."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

import yaml


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
