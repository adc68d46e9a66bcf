"""Fixtures for the sandbox cluster's own tests: a fast sandbox, kubectl and clients."""

from __future__ import annotations

import subprocess
import uuid

import pytest
import yaml
from kubernetes import client
from kubernetes import config as k8s_config

from sandbox.kube import server
from sandbox.kube.config import SandboxConfig

KUBECTL = "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    """A sandbox cluster with quick rollouts, for one test module."""
    workdir = tmp_path_factory.mktemp("kube")
    sandbox = server.start(
        state_file=str(workdir / "state.json"),
        config=SandboxConfig(rollout_seconds=0.3, job_seconds=0.3),
    )
    sandbox.kubeconfig_path = sandbox.write_kubeconfig(str(workdir / "kubeconfig"))
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def api_client(kube):
    """A ``kubernetes.client.ApiClient`` built from the sandbox's kubeconfig."""
    return k8s_config.new_client_from_config_dict(yaml.safe_load(kube.kubeconfig_text()))


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client):
    return client.AppsV1Api(api_client)


@pytest.fixture
def namespace(core):
    """A fresh namespace for one test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def kubectl(kube):
    """Run kubectl against the sandbox; returns the CompletedProcess (never raises)."""

    def run(
        *args: str, stdin: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", kube.kubeconfig_path, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
