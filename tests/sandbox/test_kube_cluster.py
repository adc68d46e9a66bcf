"""The simulated cluster around the API: registry checks, the state file, the launcher."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from kubernetes import client
from kubernetes import config as k8s_config

from sandbox.images import push_demo_image
from sandbox.kube import server
from sandbox.kube.config import SandboxConfig
from sandbox.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def _deployment(name: str, image: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def _pod_state(
    core: client.CoreV1Api, app: str, timeout: float = 10.0, namespace: str = "default"
) -> dict:
    """The first container state of the app's pod once it has left ContainerCreating."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in core.list_namespaced_pod(namespace, label_selector=f"app={app}").items:
            state = pod.status.container_statuses and pod.status.container_statuses[0].state
            if state and not (state.waiting and state.waiting.reason == "ContainerCreating"):
                return state.to_dict()
        time.sleep(0.1)
    raise AssertionError(f"pod of {app} never started")


@pytest.mark.timeout(60)
def test_images_missing_from_a_reachable_registry_cannot_be_pulled(registry):
    push_demo_image(registry.address, "shop/cart", "1.0")
    sandbox = server.start(config=SandboxConfig(rollout_seconds=0.2))
    try:
        api = k8s_config.new_client_from_config_dict(yaml.safe_load(sandbox.kubeconfig_text()))
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment(
            "default", _deployment("present", f"{registry.address}/shop/cart:1.0")
        )
        apps.create_namespaced_deployment(
            "default", _deployment("absent", f"{registry.address}/shop/cart:9.9")
        )
        apps.create_namespaced_deployment(
            "default", _deployment("offline", f"127.0.0.1:{free_port()}/shop/cart:1.0")
        )
        assert "running" in _pod_state(core, "present") and _pod_state(core, "present")["running"]
        assert _pod_state(core, "offline")["running"], "an unreachable registry is not checked"
        waiting = _pod_state(core, "absent")["waiting"]
        assert waiting["reason"] == "ImagePullBackOff"
        assert f"{registry.address}/shop/cart:9.9: not found" in waiting["message"]
    finally:
        sandbox.stop()


@pytest.mark.timeout(60)
def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    first = server.start(state_file=str(state), config=SandboxConfig(rollout_seconds=0.2))
    try:
        api = k8s_config.new_client_from_config_dict(yaml.safe_load(first.kubeconfig_text()))
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "kept"}})
        core.create_namespaced_config_map("kept", {"metadata": {"name": "cm"}, "data": {"a": "1"}})
        client.AppsV1Api(api).create_namespaced_deployment("kept", _deployment("app", "x/app:1"))
        assert _pod_state(core, "app", namespace="kept")["running"]
    finally:
        first.stop()
    saved = json.loads(state.read_text())
    rv = saved["resourceVersion"]
    second = server.start(state_file=str(state), config=SandboxConfig(rollout_seconds=0.2))
    try:
        api = k8s_config.new_client_from_config_dict(yaml.safe_load(second.kubeconfig_text()))
        core = client.CoreV1Api(api)
        assert core.read_namespaced_config_map("cm", "kept").data == {"a": "1"}
        pods = core.list_namespaced_pod("kept").items
        assert len(pods) == 1 and pods[0].status.phase == "Running"
        fresh = core.create_namespaced_config_map("kept", {"metadata": {"name": "new"}})
        assert int(fresh.metadata.resource_version) > rv
    finally:
        second.stop()


@pytest.mark.timeout(60)
def test_command_line_launcher_seeds_demo_and_saves_on_sigterm(tmp_path):
    port = free_port()
    state, kubeconfig = tmp_path / "state.json", tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.kube",
            "--port",
            str(port),
            "--state",
            str(state),
            "--kubeconfig",
            str(kubeconfig),
            "--demo-registry",
            "127.0.0.1:9",
            "--rollout-seconds",
            "0.2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc=proc)
        url = f"http://127.0.0.1:{port}"
        namespaces = {
            n["metadata"]["name"]
            for n in requests.get(f"{url}/api/v1/namespaces", timeout=5).json()["items"]
        }
        assert {"default", "kube-system", "shop-dev", "shop-prod", "analytics-test"} <= namespaces
        deployments = requests.get(
            f"{url}/apis/apps/v1/namespaces/shop-dev/deployments", timeout=5
        ).json()["items"]
        assert {d["metadata"]["name"] for d in deployments} == {"cart", "payments", "frontend"}
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, output
    saved = json.loads(state.read_text())
    names = {e["object"]["metadata"]["name"] for e in saved["objects"]}
    assert {"shop-dev", "cart", "frontend"} <= names


def test_session_fixture_is_a_working_cluster(sandbox_cluster):
    listed = requests.get(f"{sandbox_cluster.url}/api/v1/namespaces", timeout=5).json()
    assert listed["kind"] == "NamespaceList"
    assert {"default", "kube-system"} <= {n["metadata"]["name"] for n in listed["items"]}
    assert sandbox_cluster.url in sandbox_cluster.kubeconfig_text()
