"""ClusterAccess and error mapping that need no cluster: bad kubeconfigs, a closed port."""

from __future__ import annotations

import socket

import pytest

from jobs import cluster


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kubeconfig(server: str, token: str = "t0ken") -> str:
    return f"""
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{server}"}}
users:
- name: u
  user: {{token: "{token}"}}
contexts:
- name: ctx
  context: {{cluster: c, user: u, namespace: default}}
current-context: ctx
"""


def test_access_repr_hides_the_kubeconfig():
    access = cluster.ClusterAccess(kubeconfig=_kubeconfig("https://k.example", "s3cret-token"))
    assert "s3cret-token" not in repr(access)


def test_access_needs_kubeconfig_or_in_cluster():
    with pytest.raises(cluster.ClusterConfigInvalid):
        cluster.ClusterAccess()


@pytest.mark.parametrize("text", ["::: not yaml :::\n\t- [", "just a string", "{}"])
def test_unusable_kubeconfig_is_config_invalid(text):
    with pytest.raises(cluster.ClusterConfigInvalid, match="kubeconfig"):
        cluster.server_version(cluster.ClusterAccess(kubeconfig=text))


def test_unknown_context_is_config_invalid():
    access = cluster.ClusterAccess(kubeconfig=_kubeconfig("http://127.0.0.1:1"), context="nope")
    with pytest.raises(cluster.ClusterConfigInvalid, match="nope"):
        cluster.server_version(access)


@pytest.mark.timeout(30)
def test_closed_port_is_unreachable_and_names_the_server():
    server = f"http://127.0.0.1:{_closed_port()}"
    access = cluster.ClusterAccess(kubeconfig=_kubeconfig(server))
    with pytest.raises(cluster.ClusterUnreachable) as info:
        cluster.server_version(access)
    assert server in str(info.value)
    assert "t0ken" not in str(info.value)
