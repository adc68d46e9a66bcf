"""Copies with basic auth (htpasswd) and bearer tokens (a token service signing JWTs)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from jobs.oci.registry import Credentials, UnauthorizedError, check_registry, copy_image
from sandbox.images import push_demo_image

ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
BASIC = Credentials("slipway", "s3cret-pw")


def _repo() -> str:
    return f"authcopy/app-{uuid.uuid4().hex[:8]}"


def _token_for(token_service, token_credentials, repo: str) -> str:
    scope = f"repository:{repo}:pull"
    resp = requests.get(
        token_service.realm,
        params={"service": token_service.service, "scope": scope},
        auth=(token_credentials.username, token_credentials.password),
    )
    return resp.json()["token"]


def test_basic_auth_source_to_anonymous_target(auth_registry, second_registry):
    repo = _repo()
    digest = push_demo_image(auth_registry.address, repo, "1", auth=BASIC)
    result = copy_image(
        f"{auth_registry.address}/{repo}:1", f"{second_registry.address}/{repo}:1", src_auth=BASIC
    )
    served = requests.get(
        f"http://{second_registry.address}/v2/{repo}/manifests/1", headers={"Accept": ACCEPT}
    )
    assert served.headers["Docker-Content-Digest"] == digest == result.digest


def test_basic_auth_target_with_wrong_password_is_a_clear_error(registry, auth_registry):
    repo = _repo()
    push_demo_image(registry.address, repo, "1")
    with pytest.raises(UnauthorizedError) as info:
        copy_image(
            f"{registry.address}/{repo}:1",
            f"{auth_registry.address}/{repo}:1",
            dst_auth=Credentials("slipway", "not-the-password"),
        )
    message = str(info.value)
    assert f"check the credentials of registry {auth_registry.address}" in message
    assert "not-the-password" not in message


def test_bearer_token_copy_mounts_and_reuses_tokens(
    token_registry, token_service, token_credentials
):
    src, dst = _repo(), _repo()
    digest = push_demo_image(
        token_registry.address,
        src,
        "1",
        platforms=("linux/amd64", "linux/arm64"),
        auth=token_credentials,
    )
    before = len(token_service.issued)

    result = copy_image(
        f"{token_registry.address}/{src}:1",
        f"{token_registry.address}/{dst}:1",
        src_auth=token_credentials,
        dst_auth=token_credentials,
    )

    assert result.digest == digest
    assert result.blobs_mounted > 0 and result.bytes_copied == 0
    issued = [tuple(sorted(scopes)) for _, scopes in token_service.issued[before:]]
    assert sorted(issued) == sorted(
        [
            (f"repository:{src}:pull",),
            (f"repository:{dst}:pull,push",),
            tuple(sorted([f"repository:{src}:pull", f"repository:{dst}:pull,push"])),
        ]
    ), "one token per scope set, reused for every request"
    served = requests.get(
        f"http://{token_registry.address}/v2/{dst}/manifests/1",
        headers={
            "Accept": ACCEPT,
            "Authorization": f"Bearer {_token_for(token_service, token_credentials, dst)}",
        },
    )
    assert served.status_code == 200
    assert served.headers["Docker-Content-Digest"] == digest


def test_bearer_token_across_registries(token_registry, second_registry, token_credentials):
    repo = _repo()
    digest = push_demo_image(token_registry.address, repo, "1", auth=token_credentials)
    result = copy_image(
        f"{token_registry.address}/{repo}:1",
        f"{second_registry.address}/{repo}:1",
        src_auth=token_credentials,
    )
    assert result.digest == digest
    assert result.blobs_copied == 3


def test_bearer_token_wrong_password(token_registry, token_credentials):
    with pytest.raises(UnauthorizedError) as info:
        copy_image(
            f"{token_registry.address}/authcopy/none:1",
            f"{token_registry.address}/authcopy/other:1",
            src_auth=Credentials(token_credentials.username, "bad-password"),
        )
    message = str(info.value)
    assert f"check the credentials of registry {token_registry.address}" in message
    assert "bad-password" not in message


def test_bearer_token_anonymous_has_no_access(token_registry, token_credentials):
    repo = _repo()
    push_demo_image(token_registry.address, repo, "1", auth=token_credentials)
    with pytest.raises(UnauthorizedError, match="check the credentials of registry"):
        copy_image(f"{token_registry.address}/{repo}:1", f"{token_registry.address}/{repo}:2")


def test_check_registry_with_bearer_token(token_registry, token_credentials):
    text = check_registry(
        token_registry.address,
        username=token_credentials.username,
        password=token_credentials.password,
        plain_http=True,
    )
    assert "bearer" in text
    with pytest.raises(UnauthorizedError):
        check_registry(
            token_registry.address,
            username=token_credentials.username,
            password="x",
            plain_http=True,
        )


def test_credentials_from_docker_config(auth_registry, second_registry, tmp_path, monkeypatch):
    repo = _repo()
    digest = push_demo_image(auth_registry.address, repo, "1", auth=BASIC)
    import base64

    entry = base64.b64encode(b"slipway:s3cret-pw").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {auth_registry.address: {"auth": entry}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))

    result = copy_image(f"{auth_registry.address}/{repo}:1", f"{second_registry.address}/{repo}:1")

    assert result.digest == digest
