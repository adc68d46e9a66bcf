"""``flask images copy`` against real registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import flask
import pytest
import requests

from jobs.oci.cli import images_cli
from sandbox.images import push_demo_image


@pytest.fixture
def runner():
    app = flask.Flask(__name__)
    app.cli.add_command(images_cli)
    return app.test_cli_runner()


def test_copy_prints_one_json_line(runner, registry, auth_registry):
    repo = f"clicopy/app-{uuid.uuid4().hex[:8]}"
    digest = push_demo_image(registry.address, repo, "1", platforms=("linux/amd64", "linux/arm64"))

    result = runner.invoke(
        args=[
            "images", "copy", "--plain-http", "--dest-creds", "slipway:s3cret-pw",
            f"{registry.address}/{repo}:1", f"{auth_registry.address}/{repo}:1",
        ]
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["digest"] == digest
    assert report["bytes_copied"] > 0 and report["blobs_skipped"] == 0
    assert set(report) == {"digest", "bytes_copied", "blobs_mounted", "blobs_skipped"}
    served = requests.head(
        f"http://{auth_registry.address}/v2/{repo}/manifests/1",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        auth=("slipway", "s3cret-pw"),
    )
    assert served.headers["Docker-Content-Digest"] == digest


def test_failure_exits_1_with_the_error_on_stderr(runner, registry, auth_registry):
    repo = f"clicopy/denied-{uuid.uuid4().hex[:8]}"
    push_demo_image(registry.address, repo, "1")

    result = runner.invoke(
        args=[
            "images", "copy", "--plain-http", "--dest-creds", "slipway:nope-pw",
            f"{registry.address}/{repo}:1", f"{auth_registry.address}/{repo}:1",
        ]
    )  # fmt: skip

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"check the credentials of registry {auth_registry.address}" in result.stderr
    assert "nope-pw" not in result.stderr


def test_docker_engine_from_the_cli(runner, dockerd, registry, second_registry):
    repo = f"clicopy/docker-{uuid.uuid4().hex[:8]}"
    push_demo_image(registry.address, repo, "1", platforms=("linux/amd64", "linux/arm64"))

    result = runner.invoke(
        args=[
            "images", "copy", "--engine", "docker", "--docker-host", dockerd.base_url,
            f"{registry.address}/{repo}:1", f"{second_registry.address}/{repo}:1",
        ]
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["reduced_to_platform"].startswith("linux/")
    served = requests.head(
        f"http://{second_registry.address}/v2/{repo}/manifests/1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert served.headers["Docker-Content-Digest"] == report["digest"]


@pytest.mark.parametrize("command", [["images", "copy"], ["demo", "seed"]])
def test_plugin_commands_are_found_without_the_app(command):
    """``flask images``/``flask demo`` come from pyproject's entry points, not from create_app."""
    env = {k: v for k, v in os.environ.items() if k != "SLIPWAY_SECRET_KEY"} | {"FLASK_DEBUG": "0"}
    # An app that cannot start (no secret key outside debug) does not stop them.
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", *command, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"Usage: python -m flask {' '.join(command)}" in result.stdout
