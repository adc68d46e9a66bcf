"""Chart archives are checked like packaging checks them, with limits no archive can outgrow."""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from pathlib import Path

import pytest

from jobs.helm.charts import (
    MAX_CHART_ENTRIES,
    ChartError,
    check_archive_entries,
    inspect_chart_archive,
    package_chart,
    short_message,
)

LIMIT = 10 * 1024 * 1024
HELM_TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "helm-testdata" / "pkg"
CHART_YAML = b"apiVersion: v2\nname: evil\nversion: 0.1.0\n"


def tgz(files: dict[str, bytes], *, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=level) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def duplicated_entry() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for data in (CHART_YAML, CHART_YAML.replace(b"evil", b"other")):
            info = tarfile.TarInfo("evil/Chart.yaml")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CASES = {
    "too many files": (
        tgz({"evil/Chart.yaml": CHART_YAML, **{f"evil/f{i}": b"" for i in range(2500)}}),
        f"more than {MAX_CHART_ENTRIES} files",
    ),
    "library": (
        tgz({"evil/Chart.yaml": CHART_YAML + b"type: library\n"}),
        "library chart",
    ),
    "no apiVersion": (tgz({"evil/Chart.yaml": b"name: evil\nversion: 0.1.0\n"}), "apiVersion"),
    "two charts": (
        tgz({"evil/Chart.yaml": CHART_YAML, "other/Chart.yaml": CHART_YAML}),
        "holds one folder",
    ),
    "Chart.yaml twice": (duplicated_entry(), "twice"),
    "upper case name": (
        tgz({"evil/Chart.yaml": CHART_YAML.replace(b"name: evil", b"name: Evil")}),
        "chart name is invalid",
    ),
    "long name": (
        tgz({"evil/Chart.yaml": CHART_YAML.replace(b"name: evil", b"name: " + b"a" * 300)}),
        "chart name is invalid",
    ),
    "no SemVer": (
        tgz({"evil/Chart.yaml": CHART_YAML.replace(b"0.1.0", b"one")}),
        "not a SemVer 2 version",
    ),
    "huge Chart.yaml": (
        tgz({"evil/Chart.yaml": CHART_YAML + b"# " + b"x" * (4 * 1024 * 1024) + b"\n"}),
        "Chart.yaml is larger than 64 KiB",
    ),
    "huge values.yaml": (
        tgz({"evil/Chart.yaml": CHART_YAML, "evil/values.yaml": b"a: " + b"x" * 4_000_000}),
        "values.yaml is larger than 512 KiB",
    ),
    "values bomb": (
        tgz({"evil/Chart.yaml": CHART_YAML, "evil/values.yaml": b"a: &a [*a]\n"}),
        "refers to itself",
    ),
    "Chart.yaml not a mapping": (tgz({"evil/Chart.yaml": b"- a\n"}), "must be a YAML mapping"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_archives_that_cannot_be_packaged_are_refused_at_upload(case):
    data, message = CASES[case]

    with pytest.raises(ChartError, match=message) as refused:
        inspect_chart_archive(data, LIMIT)
    with pytest.raises(ChartError, match=message):
        package_chart(data, values={}, version="1.0.0", app_version="v1")

    assert len(str(refused.value)) <= 300


def test_a_decompression_bomb_stops_at_the_unpacked_limit():
    bomb = gzip.compress(b"\0" * (120 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024

    started = time.monotonic()
    with pytest.raises(ChartError, match="unpacks to more than 50 MiB"):
        check_archive_entries(bomb, LIMIT)
    assert time.monotonic() - started < 2


def test_helms_own_test_charts_are_read_and_a_corrupt_one_refused():
    loader = HELM_TESTDATA / "chart" / "v2" / "loader" / "testdata"
    info = inspect_chart_archive((loader / "frobnitz-1.2.3.tgz").read_bytes(), LIMIT)
    assert (info.name, info.version) == ("frobnitz", "1.2.3")

    charts = HELM_TESTDATA / "action" / "testdata" / "charts"
    assert inspect_chart_archive((charts / "compressedchart-0.1.0.tgz").read_bytes(), LIMIT)
    with pytest.raises(ChartError, match="is empty"):
        inspect_chart_archive((charts / "corrupted-compressed-chart.tgz").read_bytes(), LIMIT)
    with pytest.raises(ChartError, match="not a chart archive"):
        inspect_chart_archive(b"\x1f\x8b" + b"\0" * 64, LIMIT)


def test_refusals_are_short_and_show_no_server_path():
    message = short_message(
        "open /tmp/slipway-chart-abc123/chart/templates/x.yaml: " + "error " * 100
    )
    assert "/tmp" not in message
    assert "(path)" in message
    assert len(message) <= 300
    # A JSON pointer in a schema error is not a server path.
    assert "/backend/replicas" in short_message("at '/backend/replicas': got string")
