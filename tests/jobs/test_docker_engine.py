"""The Docker-daemon engine: pull, tag, push through a real dockerd."""

from __future__ import annotations

import uuid

import docker
import pytest
import requests

from jobs.oci.docker_engine import copy_image_with_docker
from jobs.oci.registry import Credentials, UnauthorizedError
from sandbox.images import push_demo_image

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _diff_ids(address: str, repo: str, ref: str, auth=None) -> list[str]:
    manifest = requests.get(
        f"http://{address}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}, auth=auth
    )
    assert manifest.status_code == 200, manifest.text
    config_digest = manifest.json()["config"]["digest"]
    config = requests.get(f"http://{address}/v2/{repo}/blobs/{config_digest}", auth=auth)
    return config.json()["rootfs"]["diff_ids"]


@pytest.fixture(scope="module")
def daemon_platform(dockerd) -> str:
    client = docker.DockerClient(base_url=dockerd.base_url)
    info = client.version()
    client.close()
    return f"{info['Os']}/{info['Arch']}"


@pytest.mark.timeout(120)
def test_pull_tag_push_copies_the_image(dockerd, registry, second_registry, daemon_platform):
    repo = f"dockercopy/app-{uuid.uuid4().hex[:8]}"
    push_demo_image(registry.address, repo, "1", platforms=(daemon_platform,))

    result = copy_image_with_docker(
        f"{registry.address}/{repo}:1",
        f"{second_registry.address}/{repo}:pushed",
        docker_host=dockerd.base_url,
    )

    served = requests.get(
        f"http://{second_registry.address}/v2/{repo}/manifests/pushed", headers={"Accept": ACCEPT}
    )
    assert served.status_code == 200
    assert served.headers["Docker-Content-Digest"] == result.digest
    assert _diff_ids(second_registry.address, repo, "pushed") == _diff_ids(
        registry.address, repo, "1"
    )
    assert result.engine == "docker"
    assert result.reduced_to_platform is None
    assert result.blobs_copied == 2
    client = docker.DockerClient(base_url=dockerd.base_url)
    assert client.images.list() == [], "local copies are removed after the push"
    client.close()


@pytest.mark.timeout(120)
def test_index_is_reduced_to_the_daemon_platform(dockerd, registry, auth_registry, daemon_platform):
    repo = f"dockercopy/multi-{uuid.uuid4().hex[:8]}"
    index_digest = push_demo_image(
        registry.address, repo, "1", platforms=("linux/amd64", "linux/arm64")
    )
    creds = Credentials("slipway", "s3cret-pw")

    result = copy_image_with_docker(
        f"{registry.address}/{repo}:1",
        f"{auth_registry.address}/{repo}:1",
        dst_auth=creds,
        docker_host=dockerd.base_url,
    )

    assert result.reduced_to_platform == daemon_platform
    assert result.digest != index_digest
    served = requests.get(
        f"http://{auth_registry.address}/v2/{repo}/manifests/1",
        headers={"Accept": ACCEPT},
        auth=("slipway", "s3cret-pw"),
    )
    assert served.headers["Docker-Content-Digest"] == result.digest
    assert "manifests" not in served.json(), "a daemon pushes a single-platform image"


@pytest.mark.timeout(120)
def test_wrong_password_is_a_clear_error(dockerd, registry, auth_registry):
    repo = f"dockercopy/denied-{uuid.uuid4().hex[:8]}"
    push_demo_image(registry.address, repo, "1")
    with pytest.raises(UnauthorizedError) as info:
        copy_image_with_docker(
            f"{registry.address}/{repo}:1",
            f"{auth_registry.address}/{repo}:1",
            dst_auth=Credentials("slipway", "wrong-pw"),
            docker_host=dockerd.base_url,
        )
    assert f"check the credentials of registry {auth_registry.address}" in str(info.value)
    assert "wrong-pw" not in str(info.value)
