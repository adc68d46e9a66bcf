"""Copies through fault-injecting proxies, and against registries that always fail."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from jobs.oci.registry import DigestMismatchError, RegistryError, RetryPolicy, copy_image
from sandbox.images import push_demo_image

ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"


@pytest.mark.timeout(120)
def test_copy_succeeds_through_503s_and_dropped_connections(registry, second_registry, fault_proxy):
    repo = f"faults/app-{uuid.uuid4().hex[:8]}"
    digest = push_demo_image(
        registry.address,
        repo,
        "1",
        platforms=("linux/amd64", "linux/arm64"),
        layer_sizes=(300_000, 200_000, 1000),
    )
    source_proxy, target_proxy = fault_proxy(registry.address), fault_proxy(second_registry.address)
    result = copy_image(
        f"{source_proxy.address}/{repo}:1",
        f"{target_proxy.address}/{repo}:1",
        retry=RetryPolicy(attempts=5, backoff=0.01),
    )

    assert result.digest == digest
    served = requests.get(
        f"http://{second_registry.address}/v2/{repo}/manifests/1", headers={"Accept": ACCEPT}
    )
    assert served.status_code == 200
    assert served.headers["Docker-Content-Digest"] == digest
    for child in served.json()["manifests"]:
        manifest = requests.get(
            f"http://{second_registry.address}/v2/{repo}/manifests/{child['digest']}",
            headers={"Accept": ACCEPT},
        ).json()
        for blob in [manifest["config"], *manifest["layers"]]:
            got = requests.head(
                f"http://{second_registry.address}/v2/{repo}/blobs/{blob['digest']}"
            )
            assert got.status_code == 200
    assert source_proxy.faults["drop"] > 0 and source_proxy.faults["503"] > 0
    assert target_proxy.faults["drop"] > 0 and target_proxy.faults["503"] > 0


@pytest.mark.timeout(60)
def test_registry_that_always_answers_500_fails_clearly_after_bounded_retries(
    registry, stub_registry
):
    stub = stub_registry(500)
    policy = RetryPolicy(attempts=4, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        copy_image(
            f"{stub.address}/team/app:1",
            f"{registry.address}/team/app:1",
            src_plain_http=True,
            retry=policy,
        )
    message = str(info.value)
    assert stub.hits == policy.attempts
    assert time.monotonic() - started < 10
    assert f"registry {stub.address} answered HTTP 500" in message
    assert f"{stub.address}/team/app:1" in message
    assert "gave up after 4 attempts" in message


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_client_errors_are_not_retried(registry, stub_registry, status):
    stub = stub_registry(status)
    with pytest.raises(RegistryError) as info:
        copy_image(
            f"{stub.address}/team/app:1", f"{registry.address}/team/app:1", src_plain_http=True
        )
    assert stub.hits == 1
    assert str(status) in str(info.value)
    assert stub.address in str(info.value)


def test_429_is_retried_after_the_delay_the_registry_asks_for(registry, stub_registry):
    stub = stub_registry(429, {"Retry-After": "1"})
    started = time.monotonic()
    with pytest.raises(RegistryError, match="HTTP 429"):
        copy_image(
            f"{stub.address}/team/app:1",
            f"{registry.address}/team/app:1",
            src_plain_http=True,
            retry=RetryPolicy(attempts=2, backoff=0.01),
        )
    assert stub.hits == 2
    assert time.monotonic() - started >= 1.0


def test_chunked_upload(registry, second_registry, fault_proxy):
    repo = f"faults/chunked-{uuid.uuid4().hex[:8]}"
    digest = push_demo_image(registry.address, repo, "1", layer_sizes=(1_000_000,))
    counting = fault_proxy(second_registry.address, inject=False)

    result = copy_image(
        f"{registry.address}/{repo}:1",
        f"{counting.address}/{repo}:1",
        upload_chunk_size=256 * 1024,
    )

    assert result.digest == digest
    assert counting.methods["PATCH"] >= 4, "the 1 MB layer went up in 256 KiB PATCHes"
    served = requests.head(
        f"http://{second_registry.address}/v2/{repo}/manifests/1", headers={"Accept": ACCEPT}
    )
    assert served.headers["Docker-Content-Digest"] == digest


def test_body_size_limit_falls_back_to_smaller_chunks(registry, second_registry, fault_proxy):
    repo = f"faults/limit-{uuid.uuid4().hex[:8]}"
    digest = push_demo_image(registry.address, repo, "1", layer_sizes=(2_000_000,))
    limited = fault_proxy(second_registry.address, inject=False, max_body=600 * 1024)

    result = copy_image(f"{registry.address}/{repo}:1", f"{limited.address}/{repo}:1")

    assert result.digest == digest
    assert limited.faults["413"] > 0
    manifest = requests.get(
        f"http://{second_registry.address}/v2/{repo}/manifests/1", headers={"Accept": ACCEPT}
    ).json()
    layer = manifest["layers"][0]
    assert result.bytes_copied == layer["size"] + manifest["config"]["size"], (
        "bytes of refused tries are not counted"
    )
    head = requests.head(f"http://{second_registry.address}/v2/{repo}/blobs/{layer['digest']}")
    assert int(head.headers["Content-Length"]) == layer["size"] > 2_000_000


def test_corrupt_blob_is_refused_and_never_lands(registry, second_registry, fault_proxy):
    repo = f"faults/corrupt-{uuid.uuid4().hex[:8]}"
    push_demo_image(registry.address, repo, "1", layer_sizes=(3_000_000,))
    corrupting = fault_proxy(registry.address, inject=False, corrupt_blobs=True)

    with pytest.raises(DigestMismatchError) as info:
        copy_image(f"{corrupting.address}/{repo}:1", f"{second_registry.address}/{repo}:1")

    assert "hashing to" in str(info.value) and corrupting.address in str(info.value)
    manifest = requests.get(
        f"http://{registry.address}/v2/{repo}/manifests/1", headers={"Accept": ACCEPT}
    ).json()
    for blob in [manifest["config"], *manifest["layers"]]:
        head = requests.head(f"http://{second_registry.address}/v2/{repo}/blobs/{blob['digest']}")
        assert head.status_code == 404, "a blob that failed its digest check must not land"
    tags = requests.get(f"http://{second_registry.address}/v2/{repo}/tags/list")
    assert tags.status_code == 404
