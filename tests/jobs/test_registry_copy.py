"""copy_image between real docker-registry processes, checked with plain HTTP requests."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests

from jobs.oci.registry import (
    CopyProgress,
    ImageRef,
    NotFoundError,
    copy_image,
    image_exists,
    list_tags,
    resolve,
)
from sandbox.images import push_demo_image

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TWO_ARCH = ("linux/amd64", "linux/arm64")


def _repo(name: str) -> str:
    return f"copytest/{name}-{uuid.uuid4().hex[:8]}"


def _get_manifest(address: str, repo: str, ref: str) -> requests.Response:
    resp = requests.get(f"http://{address}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
    assert resp.status_code == 200, f"{repo}:{ref} missing on {address}: {resp.text}"
    return resp


def _digest_of(resp: requests.Response) -> str:
    served = resp.headers["Docker-Content-Digest"]
    assert served == "sha256:" + hashlib.sha256(resp.content).hexdigest()
    return served


def _blob_present(address: str, repo: str, digest: str) -> bool:
    return requests.head(f"http://{address}/v2/{repo}/blobs/{digest}").status_code == 200


def _all_blobs(address: str, repo: str, manifest: dict) -> list[str]:
    if "manifests" in manifest:
        digests = []
        for child in manifest["manifests"]:
            digests += _all_blobs(
                address, repo, _get_manifest(address, repo, child["digest"]).json()
            )
        return digests
    return [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]


def test_single_platform_image_across_registries(registry, second_registry):
    src_repo, dst_repo = _repo("single"), _repo("single-copy")
    source_digest = push_demo_image(registry.address, src_repo, "1.0", layer_sizes=(50_000, 9000))

    result = copy_image(
        f"{registry.address}/{src_repo}:1.0", f"{second_registry.address}/{dst_repo}:v1"
    )

    target = _get_manifest(second_registry.address, dst_repo, "v1")
    assert _digest_of(target) == source_digest == result.digest
    assert result.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert result.platforms == ["linux/amd64"]
    blobs = _all_blobs(second_registry.address, dst_repo, target.json())
    assert all(_blob_present(second_registry.address, dst_repo, d) for d in blobs)
    assert result.blobs_copied == len(blobs) == 3
    assert result.bytes_copied > 59_000


@pytest.mark.parametrize("flavor", ["oci", "docker"])
def test_multi_arch_index_across_registries(registry, second_registry, flavor):
    src_repo, dst_repo = _repo(f"multi-{flavor}"), _repo(f"multi-{flavor}-copy")
    push_demo_image(registry.address, src_repo, "2.0", platforms=TWO_ARCH, flavor=flavor)
    source = _get_manifest(registry.address, src_repo, "2.0")

    result = copy_image(
        f"{registry.address}/{src_repo}:2.0", f"{second_registry.address}/{dst_repo}:2.0"
    )

    target = _get_manifest(second_registry.address, dst_repo, "2.0")
    assert _digest_of(target) == _digest_of(source) == result.digest
    assert target.content == source.content
    assert target.headers["Content-Type"] == source.headers["Content-Type"]
    for child in source.json()["manifests"]:
        src_child = _get_manifest(registry.address, src_repo, child["digest"])
        dst_child = _get_manifest(second_registry.address, dst_repo, child["digest"])
        assert _digest_of(dst_child) == _digest_of(src_child) == child["digest"]
    for digest in _all_blobs(second_registry.address, dst_repo, target.json()):
        assert _blob_present(second_registry.address, dst_repo, digest)
    assert result.platforms == list(TWO_ARCH)
    assert result.manifests_pushed == 3


def test_same_registry_promotion_mounts_every_blob(registry):
    src_repo, dst_repo = _repo("promote"), _repo("promote-prod")
    digest = push_demo_image(registry.address, src_repo, "1", platforms=TWO_ARCH)

    result = copy_image(f"{registry.address}/{src_repo}:1", f"{registry.address}/{dst_repo}:1")

    assert result.digest == digest
    assert _digest_of(_get_manifest(registry.address, dst_repo, "1")) == digest
    assert result.bytes_copied == 0
    assert result.blobs_copied == result.blobs_skipped == 0
    blobs = _all_blobs(
        registry.address, dst_repo, _get_manifest(registry.address, dst_repo, "1").json()
    )
    assert result.blobs_mounted == len(set(blobs)) > 0
    assert all(_blob_present(registry.address, dst_repo, d) for d in blobs)


def test_copying_again_skips_every_blob(registry, second_registry):
    src_repo, dst_repo = _repo("again"), _repo("again-copy")
    push_demo_image(registry.address, src_repo, "1", platforms=TWO_ARCH)
    src, dst = f"{registry.address}/{src_repo}:1", f"{second_registry.address}/{dst_repo}:1"
    first = copy_image(src, dst)

    second = copy_image(src, dst)

    assert second.digest == first.digest
    assert second.blobs_skipped == first.blobs_copied > 0
    assert second.bytes_copied == second.blobs_copied == second.blobs_mounted == 0


def test_copy_by_digest_and_progress_reports(registry, second_registry):
    src_repo, dst_repo = _repo("bydigest"), _repo("bydigest-copy")
    digest = push_demo_image(registry.address, src_repo, "1", layer_sizes=(3 << 20,))
    events: list[CopyProgress] = []

    result = copy_image(
        f"{registry.address}/{src_repo}@{digest}",
        f"{second_registry.address}/{dst_repo}:release",
        progress=events.append,
        concurrency=2,
    )

    assert _digest_of(_get_manifest(second_registry.address, dst_repo, "release")) == digest
    assert events[0].event == "start" and events[-1].event == "done"
    assert events[-1].bytes_done == result.bytes_copied
    assert events[-1].bytes_total >= result.bytes_copied > 3 << 20
    assert events[-1].blobs_done == events[-1].blobs_total == 2
    assert any(e.event == "bytes" and 0 < e.bytes_done < result.bytes_copied for e in events)


def test_missing_source_is_a_clear_error(registry, second_registry):
    src = f"{registry.address}/copytest/nothing-here:1"
    with pytest.raises(NotFoundError) as info:
        copy_image(src, f"{second_registry.address}/copytest/x:1")
    assert src in str(info.value) and "404" in str(info.value)


def test_resolve_exists_and_tags(registry):
    repo = _repo("lookup")
    digest = push_demo_image(registry.address, repo, "a")
    push_demo_image(registry.address, repo, "b")
    assert resolve(f"{registry.address}/{repo}:a") == digest
    assert image_exists(f"{registry.address}/{repo}:b")
    assert not image_exists(f"{registry.address}/{repo}:c")
    assert sorted(list_tags(f"{registry.address}/{repo}")) == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", None),
        ("team/app:1.2", "docker.io", "team/app", "1.2", None),
        ("localhost:5000/app", "localhost:5000", "app", "latest", None),
        (
            "127.0.0.1:5000/a/b:v@sha256:" + "a" * 64,
            "127.0.0.1:5000",
            "a/b",
            "v",
            "sha256:" + "a" * 64,
        ),
        ("ghcr.io/org/img@sha256:" + "b" * 64, "ghcr.io", "org/img", None, "sha256:" + "b" * 64),
    ],
)
def test_image_ref_parsing(text, registry, repository, tag, digest):
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ImageRef.parse(str(ref)) == ref


def test_docker_hub_api_host():
    assert ImageRef.parse("nginx").api_host == "registry-1.docker.io"


@pytest.mark.parametrize("bad", ["", "UPPER/case", "app:bad tag", "app@sha256:short"])
def test_image_ref_rejects_invalid(bad):
    with pytest.raises(ValueError):
        ImageRef.parse(bad)
