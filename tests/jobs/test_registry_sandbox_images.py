"""sandbox.images pushes real images; checked with plain HTTP against the registry."""

from __future__ import annotations

import hashlib

import requests

from sandbox.images import push_demo_image

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _manifest(address, repo, ref, auth=None):
    resp = requests.get(
        f"http://{address}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}, auth=auth
    )
    assert resp.status_code == 200, resp.text
    return resp


def test_single_platform_image_lands_with_its_blobs(registry):
    digest = push_demo_image(registry.address, "sandbox/single", "1.0", layer_sizes=(1000, 5000))
    resp = _manifest(registry.address, "sandbox/single", "1.0")
    assert resp.headers["Docker-Content-Digest"] == digest
    assert "sha256:" + hashlib.sha256(resp.content).hexdigest() == digest
    manifest = resp.json()
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert len(manifest["layers"]) == 2
    for blob in [manifest["config"], *manifest["layers"]]:
        got = requests.get(f"http://{registry.address}/v2/sandbox/single/blobs/{blob['digest']}")
        assert got.status_code == 200
        assert len(got.content) == blob["size"]
        assert "sha256:" + hashlib.sha256(got.content).hexdigest() == blob["digest"]


def test_same_arguments_give_same_digest(registry):
    first = push_demo_image(registry.address, "sandbox/again", "a", seed=7)
    second = push_demo_image(registry.address, "sandbox/again", "b", seed=7)
    third = push_demo_image(registry.address, "sandbox/again", "c", seed=8)
    assert first == second != third


def test_multi_arch_index(registry):
    digest = push_demo_image(
        registry.address, "sandbox/multi", "1.0", platforms=("linux/amd64", "linux/arm64")
    )
    index = _manifest(registry.address, "sandbox/multi", "1.0")
    assert index.headers["Docker-Content-Digest"] == digest
    body = index.json()
    assert body["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"]["architecture"] for m in body["manifests"]] == ["amd64", "arm64"]
    for child in body["manifests"]:
        resp = _manifest(registry.address, "sandbox/multi", child["digest"])
        assert resp.json()["mediaType"] == child["mediaType"]


def test_docker_manifest_list_flavor(registry):
    push_demo_image(
        registry.address,
        "sandbox/dockerlist",
        "1.0",
        platforms=("linux/amd64", "linux/arm64"),
        flavor="docker",
    )
    resp = _manifest(registry.address, "sandbox/dockerlist", "1.0")
    assert resp.headers["Content-Type"] == (
        "application/vnd.docker.distribution.manifest.list.v2+json"
    )


def test_push_with_basic_auth(auth_registry):
    digest = push_demo_image(
        auth_registry.address, "sandbox/private", "1.0", auth=("slipway", "s3cret-pw")
    )
    resp = _manifest(auth_registry.address, "sandbox/private", "1.0", auth=("slipway", "s3cret-pw"))
    assert resp.headers["Docker-Content-Digest"] == digest
