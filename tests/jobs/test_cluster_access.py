"""ClusterAccess and error mapping that need no cluster: bad kubeconfigs, a closed port."""

from __future__ import annotations

import base64
import glob
import json
import os
import socket
import stat
import tempfile

import pytest
from kubernetes.client.exceptions import ApiException

from jobs.kube import access as kube_access
from jobs.kube import cluster


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
    access = kube_access.ClusterAccess(kubeconfig=_kubeconfig("https://k.example", "s3cret-token"))
    assert "s3cret-token" not in repr(access)


def test_access_needs_kubeconfig_or_in_cluster():
    with pytest.raises(kube_access.ClusterConfigInvalid):
        kube_access.ClusterAccess()


@pytest.mark.parametrize("text", ["::: not yaml :::\n\t- [", "just a string", "{}"])
def test_unusable_kubeconfig_is_config_invalid(text):
    with pytest.raises(kube_access.ClusterConfigInvalid, match="kubeconfig"):
        cluster.server_version(kube_access.ClusterAccess(kubeconfig=text))


def test_unknown_context_is_config_invalid():
    access = kube_access.ClusterAccess(kubeconfig=_kubeconfig("http://127.0.0.1:1"), context="nope")
    with pytest.raises(kube_access.ClusterConfigInvalid, match="nope"):
        cluster.server_version(access)


@pytest.mark.timeout(30)
def test_closed_port_is_unreachable_and_names_the_server():
    server = f"http://127.0.0.1:{_closed_port()}"
    access = kube_access.ClusterAccess(kubeconfig=_kubeconfig(server))
    with pytest.raises(kube_access.ClusterUnreachable) as info:
        cluster.server_version(access)
    assert server in str(info.value)
    assert "t0ken" not in str(info.value)


def _private_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "slipway-kube-*")))


@pytest.mark.timeout(30)
def test_certificate_files_are_private_and_removed_afterwards():
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    data = pem.decode()
    with_ca = f'cluster: {{certificate-authority-data: "{data}", server: "https'
    text = _kubeconfig(f"https://127.0.0.1:{_closed_port()}").replace(
        'cluster: {server: "https', with_ca
    )
    access = kube_access.ClusterAccess(kubeconfig=text)
    before = _private_dirs()

    with cluster.connect(access) as conn:
        written = _private_dirs() - before
        assert len(written) == 1
        (private,) = written
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
        files = os.listdir(private)
        assert files, "the CA certificate should be in the private directory"
        assert stat.S_IMODE(os.stat(os.path.join(private, files[0])).st_mode) == 0o600
        assert conn.server.startswith("https://127.0.0.1:")

    assert _private_dirs() == before
    with pytest.raises(kube_access.ClusterError):
        cluster.server_version(access)
    assert _private_dirs() == before

    # Two connections with the same certificate must not share (and delete) one file.
    with cluster.connect(access) as second:
        with cluster.connect(access) as first:
            assert first.api.configuration.ssl_ca_cert != second.api.configuration.ssl_ca_cert
        assert os.path.exists(second.api.configuration.ssl_ca_cert)


def test_failed_kubeconfigs_leave_no_private_directory():
    before = _private_dirs()
    for text in ["::: not yaml :::\n\t- [", "just a string", "{}"]:
        with pytest.raises(kube_access.ClusterConfigInvalid):
            cluster.server_version(kube_access.ClusterAccess(kubeconfig=text))
    assert _private_dirs() == before


@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [
        (401, kube_access.ClusterUnauthorized, "kubeconfig"),
        (403, kube_access.ClusterForbidden, "RBAC"),
        (404, kube_access.ClusterNotFound, "not found"),
        (409, kube_access.ClusterConflict, "retry"),
        (500, kube_access.ClusterError, "HTTP 500"),
    ],
)
def test_api_errors_map_to_specific_errors_with_the_server_message(status, error, hint):
    body = json.dumps({"kind": "Status", "message": 'deployments.apps "web" is the detail'})
    exc = ApiException(status=status, reason="Reason")
    exc.body = body

    mapped = cluster.api_error(exc, "https://k.example:6443", "updating Deployment 'web'")

    assert type(mapped) is error
    text = str(mapped)
    assert "https://k.example:6443" in text
    assert "is the detail" in text
    assert hint in text
