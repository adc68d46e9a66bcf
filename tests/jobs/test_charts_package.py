"""Chart versions, packaging with the Helm SDK, and push/pull against real registries."""

from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from jobs.helm.charts import (
    ChartError,
    ChartLintError,
    check_chart_version,
    inspect_chart_archive,
    is_semver,
    next_chart_version,
    package_chart,
    sort_versions,
)
from jobs.helm.repository import (
    ChartRepositoryError,
    chart_reference,
    chart_versions,
    pull_chart,
    push_chart,
    split_repository,
)
from jobs.helm.values import detect_image_paths, rewrite_images
from sandbox import services
from sandbox.token_service import TokenService

CHARTS = Path(__file__).resolve().parents[1] / "data" / "charts"
LIMIT = 1024 * 1024
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DEMO_VALUES = {"replicaCount": 1, "image": {"repository": "registry.local/demo/web", "tag": "1.0"}}


@pytest.fixture(scope="module")
def chart_archive(tmp_path_factory):
    """Factory: the .tgz of ``tests/data/charts/<name>``, packaged by the Helm SDK."""
    import helm_python

    built: dict[str, bytes] = {}

    def build(name: str) -> bytes:
        if name not in built:
            out = helm_python.package(CHARTS / name, destination=tmp_path_factory.mktemp(name))
            built[name] = Path(out).read_bytes()
        return built[name]

    return build


def unique_repository(registry) -> str:
    return f"{registry.address}/charts-{uuid.uuid4().hex[:8]}"


def shop_values(chart_archive, tag: str = "v7") -> dict:
    values = inspect_values(chart_archive("shop"))
    targets = {
        "image.repository+image.tag": f"prod.local/shop/web:{tag}",
        "frontend.image.registry+frontend.image.repository+frontend.image.tag": (
            f"prod.local/shop/frontend:{tag}"
        ),
        "backend.image": f"prod.local/shop/api:{tag}",
    }
    edited = rewrite_images(values, detect_image_paths(values), targets)
    edited["backend"]["logLevel"] = "debug"
    return edited


def inspect_values(archive: bytes) -> dict:
    return yaml.safe_load(inspect_chart_archive(archive, LIMIT).values_yaml)


def rendered_images(archive: bytes) -> dict[str, str]:
    import helm_python

    with helm_python.Chart.load_archive(archive) as chart:
        manifests = chart.render(name="rel", namespace="prod")
    images = {}
    for text in manifests.values():
        doc = yaml.safe_load(text)
        if doc and doc.get("kind") == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                images[container["name"]] = container["image"]
    return images


# -- SemVer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["0.0.0", "1.2.3", "1.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x-y-z.--"]
    + ["1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85"],
)
def test_semver_accepts_semver_org_versions(text):
    assert is_semver(text)


@pytest.mark.parametrize(
    "text",
    ["", "1", "1.2", "v1.2.3", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3\n"]
    + ["1.2.3-a..b", "1.2.3+a_b", "latest", "1.2.3.4", "١.٢.٣"],
)
def test_semver_refuses_other_text(text):
    assert not is_semver(text)


def test_versions_sort_by_semver_precedence():
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.3",
        "1.10.0",
        "2.0.0",
    ]
    shuffled = ordered + ["latest", "v3.0.0"]
    random.Random(4).shuffle(shuffled)

    assert sort_versions(shuffled) == list(reversed(ordered))


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["1.2.3", "1.10.0"], "1.10.1"),
        (["1.10.0", "1.9.99"], "1.10.1"),
        ([], "1.0.0"),
        (["latest", "v2.0.0", "main"], "1.0.0"),
        (["1.4.0", "2.0.0-rc.1"], "2.0.0"),
        (["1.0.0_build.7"], "1.0.1"),
        (["0.1.0", "0.1.0-rc.1"], "0.1.1"),
    ],
)
def test_next_chart_version(tags, expected):
    assert next_chart_version(tags) == expected


def test_check_chart_version_explains():
    check_chart_version("1.2.3-rc.1+build.5")
    with pytest.raises(ChartError, match="not a SemVer 2 version"):
        check_chart_version("1.2")
    with pytest.raises(ChartError, match="longer than 64"):
        check_chart_version("1.0.0-" + "a" * 60)


# -- Packaging ----------------------------------------------------------------------


def test_packaged_chart_renders_with_new_images_values_and_version(chart_archive, tmp_path):
    values = shop_values(chart_archive)

    packaged = package_chart(
        chart_archive("shop"), values=values, version="2.1.0", app_version="shop-2026.11"
    )

    assert (packaged.name, packaged.version, packaged.app_version) == (
        "shop",
        "2.1.0",
        "shop-2026.11",
    )
    assert packaged.filename == "shop-2.1.0.tgz"
    assert packaged.size == len(packaged.archive)
    assert packaged.digest == "sha256:" + hashlib.sha256(packaged.archive).hexdigest()
    info = inspect_chart_archive(packaged.archive, LIMIT)
    assert (info.name, info.version, info.app_version) == ("shop", "2.1.0", "shop-2026.11")
    assert yaml.safe_load(info.values_yaml) == values
    assert rendered_images(packaged.archive) == {
        "web": "prod.local/shop/web:v7",
        "frontend": "prod.local/shop/frontend:v7",
        "backend": "prod.local/shop/api:v7",
    }
    import helm_python

    with helm_python.Chart.load_archive(packaged.archive) as chart:
        web = yaml.safe_load(chart.render(name="rel")["shop/templates/web.yaml"])
        backend = yaml.safe_load(chart.render(name="rel")["shop/templates/backend.yaml"])
    assert web["metadata"]["labels"] == {
        "app.kubernetes.io/version": "shop-2026.11",
        "helm.sh/chart": "shop-2.1.0",
    }
    env = backend["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "LOG_LEVEL", "value": "debug"}]
    with tarfile.open(fileobj=io.BytesIO(packaged.archive)) as archive:
        chart_yaml = yaml.safe_load(archive.extractfile("shop/Chart.yaml").read())
        values_yaml = archive.extractfile("shop/values.yaml").read().decode()
    assert chart_yaml["version"] == "2.1.0"
    assert chart_yaml["appVersion"] == "shop-2026.11"
    assert "registry.local" not in values_yaml


def test_packaging_leaves_nothing_in_its_work_dir(chart_archive, tmp_path):
    work = tmp_path / "storage" / "work"

    package_chart(
        chart_archive("demo"), values=DEMO_VALUES, version="1.0.0", app_version="v1", work_dir=work
    )

    assert list(work.iterdir()) == []


def test_lint_errors_fail_with_helm_messages(chart_archive, tmp_path):
    work = tmp_path / "work"

    with pytest.raises(ChartLintError) as failure:
        package_chart(
            chart_archive("broken"),
            values=inspect_values(chart_archive("broken")),
            version="1.0.0",
            app_version="v1",
            work_dir=work,
        )

    assert failure.value.chart == "broken"
    assert len(failure.value.messages) == 1
    assert 'function "no_such_function" not defined' in failure.value.messages[0]
    assert "Helm lint failed for chart broken" in str(failure.value)
    assert list(work.iterdir()) == []


def test_lint_checks_the_edited_values(chart_archive):
    values = shop_values(chart_archive)
    del values["backend"]["logLevel"]

    with pytest.raises(ChartLintError, match="backend.logLevel is required"):
        package_chart(chart_archive("shop"), values=values, version="1.0.0", app_version="v1")


def test_values_are_checked_against_the_chart_schema(chart_archive):
    values = shop_values(chart_archive)
    values["backend"]["replicas"] = "two"

    with pytest.raises(ChartLintError) as failure:
        package_chart(chart_archive("shop"), values=values, version="1.0.0", app_version="v1")

    assert "values.yaml: - at '/backend/replicas': got string, want integer" in (
        failure.value.messages
    )


def test_subchart_images_are_set_through_the_parent_values(chart_archive):
    values = inspect_values(chart_archive("umbrella"))
    paths = detect_image_paths(values)
    assert {path.label for path in paths} == {
        "gateway.image",
        "demo.image.repository+demo.image.tag",
    }
    targets = {
        "gateway.image": "prod.local/umbrella/gateway:r1",
        "demo.image.repository+demo.image.tag": "prod.local/umbrella/demo:r1",
    }

    packaged = package_chart(
        chart_archive("umbrella"),
        values=rewrite_images(values, paths, targets),
        version="0.3.0",
        app_version="r1",
    )

    assert rendered_images(packaged.archive) == {
        "gateway": "prod.local/umbrella/gateway:r1",
        "web": "prod.local/umbrella/demo:r1",
    }
    with tarfile.open(fileobj=io.BytesIO(packaged.archive)) as archive:
        assert "umbrella/charts/demo/Chart.yaml" in archive.getnames()
        chart_yaml = archive.extractfile("umbrella/Chart.yaml").read().decode()
    assert "description: Umbrella chart — its subchart’s image" in chart_yaml
    dependencies = yaml.safe_load(chart_yaml)["dependencies"]
    assert [(d["name"], d["version"]) for d in dependencies] == [("demo", "0.1.0")]


@pytest.mark.parametrize(
    ("version", "app_version", "message"),
    [
        ("1.2", "v1", "not a SemVer 2 version"),
        ("v1.2.3", "v1", "not a SemVer 2 version"),
        ("1.2.3", "", "appVersion"),
        ("1.2.3", "v1\nkind: Secret", "appVersion"),
    ],
)
def test_package_refuses_bad_versions(chart_archive, version, app_version, message):
    with pytest.raises(ChartError, match=message):
        package_chart(
            chart_archive("demo"), values=DEMO_VALUES, version=version, app_version=app_version
        )


# -- Bad uploads --------------------------------------------------------------------


def tgz(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


CHART_YAML = b"apiVersion: v2\nname: evil\nversion: 0.1.0\n"
GOOD = (entry("evil/Chart.yaml"), CHART_YAML)
BAD_UPLOADS = {
    "empty": (b"", "is empty"),
    "random bytes": (os.urandom(4096), "not a chart archive"),
    "absolute path": (tgz(GOOD, (entry("/tmp/escaped"), b"x")), "points outside the chart"),
    "dot-dot entry": (tgz(GOOD, (entry("evil/../../escaped"), b"x")), "points outside"),
    "symlink": (tgz(GOOD, (entry("evil/link", tarfile.SYMTYPE, "/etc/passwd"), b"")), "is a link"),
    "hard link": (tgz(GOOD, (entry("evil/hard", tarfile.LNKTYPE, "evil/Chart.yaml"), b"")), "link"),
    "fifo": (tgz(GOOD, (entry("evil/pipe", tarfile.FIFOTYPE), b"")), "not a regular file"),
    "no Chart.yaml": (tgz((entry("evil/values.yaml"), b"a: 1\n")), "Chart.yaml file is missing"),
    "name escapes": (
        tgz((entry("evil/Chart.yaml"), b"apiVersion: v2\nname: ../../escaped\nversion: 0.1.0\n")),
        "is invalid",
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_are_refused_and_nothing_is_written(case, tmp_path):
    data, message = BAD_UPLOADS[case]
    work = tmp_path / "storage" / "work"

    with pytest.raises(ChartError, match=message):
        inspect_chart_archive(data, LIMIT)
    with pytest.raises(ChartError, match=message):
        package_chart(data, values={}, version="1.0.0", app_version="v1", work_dir=work)

    assert not list(tmp_path.rglob("escaped*"))
    assert not work.exists() or list(work.iterdir()) == []


def test_oversized_upload_is_refused(chart_archive):
    data = chart_archive("demo")

    with pytest.raises(ChartError, match="larger than 0 MiB"):
        inspect_chart_archive(data, len(data) - 1)
    with pytest.raises(ChartError, match="larger than"):
        package_chart(
            data, values=DEMO_VALUES, version="1.0.0", app_version="v1", max_bytes=len(data) - 1
        )


# -- Registries ---------------------------------------------------------------------


def test_split_repository_and_reference():
    assert split_repository("oci://127.0.0.1:5000/team/charts/") == (
        "127.0.0.1:5000",
        "team/charts",
    )
    assert chart_reference("host:5000", "web", "1.0.0") == "oci://host:5000/web:1.0.0"
    for bad in ["", "oci://", "host//charts", "host/cha rts"]:
        with pytest.raises(ChartRepositoryError):
            split_repository(bad)


def test_pushed_chart_pulls_back_identical_with_helm_media_types(chart_archive, registry):
    repository = unique_repository(registry)
    packaged = package_chart(
        chart_archive("shop"), values=shop_values(chart_archive), version="3.0.0", app_version="r3"
    )

    pushed = push_chart(packaged, repository, plain_http=True)

    path = repository.split("/", 1)[1]
    assert pushed.reference == f"oci://{registry.address}/{path}/shop:3.0.0"
    pulled = pull_chart(pushed.reference, plain_http=True)
    assert pulled == packaged.archive
    assert rendered_images(pulled)["backend"] == "prod.local/shop/api:v7"

    base = f"http://{registry.address}/v2/{path}/shop"
    resp = requests.get(f"{base}/manifests/3.0.0", headers={"Accept": OCI_MANIFEST}, timeout=10)
    resp.raise_for_status()
    assert resp.headers["Docker-Content-Digest"] == pushed.digest
    assert "sha256:" + hashlib.sha256(resp.content).hexdigest() == pushed.digest
    manifest = resp.json()
    assert resp.headers["Content-Type"] == OCI_MANIFEST
    assert manifest["schemaVersion"] == 2
    assert manifest["config"]["mediaType"] == HELM_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [HELM_LAYER]
    assert manifest["layers"][0]["digest"] == packaged.digest
    assert manifest["layers"][0]["size"] == packaged.size
    layer = requests.get(f"{base}/blobs/{packaged.digest}", timeout=10)
    assert layer.content == packaged.archive
    config = requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=10).json()
    assert (config["name"], config["version"], config["appVersion"]) == ("shop", "3.0.0", "r3")


def test_suggested_version_follows_the_repository(chart_archive, second_registry):
    repository = unique_repository(second_registry)
    assert chart_versions(repository, "demo", plain_http=True) == []
    assert next_chart_version(chart_versions(repository, "demo", plain_http=True)) == "1.0.0"

    for version in ["1.2.3", "1.10.0"]:
        packaged = package_chart(
            chart_archive("demo"), values=DEMO_VALUES, version=version, app_version=f"v{version}"
        )
        push_chart(packaged, repository, plain_http=True)

    versions = chart_versions(repository, "demo", plain_http=True)
    assert versions == ["1.10.0", "1.2.3"]
    assert next_chart_version(versions) == "1.10.1"


def test_build_metadata_versions_round_trip(chart_archive, registry):
    repository = unique_repository(registry)
    packaged = package_chart(
        chart_archive("demo"), values=DEMO_VALUES, version="1.0.0+build.5", app_version="b5"
    )

    pushed = push_chart(packaged, repository, plain_http=True)

    assert pushed.reference.endswith("/demo:1.0.0+build.5")
    assert chart_versions(repository, "demo", plain_http=True) == ["1.0.0+build.5"]
    path = repository.split("/", 1)[1]
    tags = requests.get(f"http://{registry.address}/v2/{path}/demo/tags/list", timeout=10).json()
    assert tags["tags"] == ["1.0.0_build.5"]
    assert pull_chart(pushed.reference, plain_http=True) == packaged.archive


def test_auth_registry_push_pull_and_list(chart_archive, auth_registry):
    repository = unique_repository(auth_registry)
    creds = {"username": "slipway", "password": "s3cret-pw", "plain_http": True}
    packaged = package_chart(
        chart_archive("demo"), values=DEMO_VALUES, version="0.4.0", app_version="v4"
    )

    pushed = push_chart(packaged, repository, **creds)

    assert chart_versions(repository, "demo", **creds) == ["0.4.0"]
    assert pull_chart(pushed.reference, **creds) == packaged.archive
    anonymous = requests.get(f"http://{auth_registry.address}/v2/_catalog", timeout=10)
    assert anonymous.status_code == 401


def test_auth_registry_refuses_missing_or_wrong_credentials(chart_archive, auth_registry):
    repository = unique_repository(auth_registry)
    packaged = package_chart(
        chart_archive("demo"), values=DEMO_VALUES, version="0.5.0", app_version="v5"
    )

    with pytest.raises(ChartRepositoryError, match="pushing chart demo 0.5.0") as anonymous:
        push_chart(packaged, repository, plain_http=True)
    assert "credential" in str(anonymous.value) or "401" in str(anonymous.value)
    with pytest.raises(ChartRepositoryError, match="signing in to .* as 'slipway'") as wrong:
        push_chart(packaged, repository, username="slipway", password="wrong-pw", plain_http=True)
    assert "401" in str(wrong.value)
    assert "wrong-pw" not in str(wrong.value)
    with pytest.raises(ChartRepositoryError, match="Listing the versions of chart demo"):
        chart_versions(repository, "demo", plain_http=True)
    with pytest.raises(ChartRepositoryError):
        pull_chart(chart_reference(repository, "demo", "0.5.0"), plain_http=True)
    nothing = requests.get(
        f"http://{auth_registry.address}/v2/{repository.split('/', 1)[1]}/demo/tags/list",
        auth=("slipway", "s3cret-pw"),
        timeout=10,
    )
    assert nothing.status_code == 404


def test_pull_refuses_missing_charts_and_oversized_ones(chart_archive, registry):
    repository = unique_repository(registry)
    packaged = package_chart(
        chart_archive("demo"), values=DEMO_VALUES, version="0.1.0", app_version="v1"
    )
    pushed = push_chart(packaged, repository, plain_http=True)

    with pytest.raises(ChartRepositoryError, match="larger than the limit"):
        pull_chart(pushed.reference, plain_http=True, max_bytes=packaged.size - 1)
    with pytest.raises(ChartRepositoryError, match="pulling chart"):
        pull_chart(chart_reference(repository, "demo", "9.9.9"), plain_http=True)
    with pytest.raises(ChartRepositoryError, match="not a chart reference"):
        pull_chart(f"oci://{registry.address}/charts/demo", plain_http=True)


class OAuthRefusingTokenService(TokenService):
    """The sandbox token service, answering Helm's OAuth2 POST with 405 as most servers do.

    Helm (oras) first POSTs to the realm; http.server's default 501 is a 5xx it
    retries with backoff for about 7 s before falling back to GET.
    """

    def _handler(self):
        base = super()._handler()

        class Handler(base):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self._answer(405, {"error": "use GET"})

        return Handler


@pytest.fixture(scope="module")
def helm_token_registry(tmp_path_factory):
    """A registry with bearer-token auth; user ``robot`` / ``t0ken-pw``."""
    tokens = OAuthRefusingTokenService(tmp_path_factory.mktemp("tokens"), {"robot": "t0ken-pw"})
    registry = services.start_registry(
        tmp_path_factory.mktemp("token-registry"), token_auth=tokens.registry_config()
    )
    yield registry, tokens
    registry.stop()
    tokens.stop()


def test_token_auth_registry_push_pull_and_list(chart_archive, helm_token_registry):
    registry, tokens = helm_token_registry
    repository = unique_repository(registry)
    creds = {"username": "robot", "password": "t0ken-pw", "plain_http": True}
    packaged = package_chart(
        chart_archive("demo"), values=DEMO_VALUES, version="2.0.0", app_version="v2"
    )

    pushed = push_chart(packaged, repository, **creds)

    assert chart_versions(repository, "demo", **creds) == ["2.0.0"]
    assert pull_chart(pushed.reference, **creds) == packaged.archive
    path = repository.split("/", 1)[1]
    assert ("robot", (f"repository:{path}/demo:pull,push",)) in tokens.issued
