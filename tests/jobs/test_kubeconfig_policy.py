"""Kubeconfigs with anything but inline credentials are refused before the client sees them."""

from __future__ import annotations

import json
import socket

import pytest

from jobs.kube import access as kube_access
from jobs.kube import cluster
from jobs.kube.kubeconfig_policy import KubeconfigRefused, check_kubeconfig


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kubeconfig(user: str, cluster_extra: str = "", server: str | None = None) -> str:
    server = server or f"http://127.0.0.1:{_closed_port()}"
    return f"""
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: "{server}"
{cluster_extra}
users:
- name: u
  user:
{user}
contexts:
- name: ctx
  context: {{cluster: c, user: u}}
current-context: ctx
"""


def exec_user(marker) -> str:
    credential = json.dumps(
        {
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": "x"},
        }
    )
    args = json.dumps(["-c", f"touch {marker}; echo '{credential}'"])
    return f"""    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/sh
      args: {args}
      interactiveMode: Never"""


def test_exec_kubeconfig_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "exec-ran"
    text = kubeconfig(exec_user(marker))

    with pytest.raises(KubeconfigRefused, match="exec"):
        check_kubeconfig(text)
    with pytest.raises(kube_access.ClusterConfigInvalid, match="exec"):
        cluster.server_version(kube_access.ClusterAccess(kubeconfig=text))

    assert not marker.exists()


def test_token_file_is_refused_and_its_content_never_appears(tmp_path):
    secret = tmp_path / "secret-key"
    secret.write_text("top-secret-file-content\nsecond line\n")
    text = kubeconfig(f"    tokenFile: {secret}")

    with pytest.raises(kube_access.ClusterConfigInvalid, match="tokenFile") as caught:
        cluster.server_version(kube_access.ClusterAccess(kubeconfig=text))

    assert "top-secret-file-content" not in str(caught.value)


@pytest.mark.parametrize(
    ("user", "cluster_extra", "key"),
    [
        ("    client-certificate: /etc/passwd\n    client-key: /etc/passwd", "", "client-"),
        ("    token: t0ken", "    certificate-authority: /etc/passwd", "certificate-authority"),
        ("    token: t0ken", "    proxy-url: http://127.0.0.1:3128", "proxy-url"),
        ("    auth-provider: {name: oidc, config: {cmd-path: /bin/sh}}", "", "auth-provider"),
    ],
)
def test_file_paths_proxies_and_providers_are_refused(user, cluster_extra, key):
    with pytest.raises(KubeconfigRefused, match=key):
        check_kubeconfig(kubeconfig(user, cluster_extra))


def test_inline_credentials_pass():
    check_kubeconfig(
        kubeconfig(
            "    token: t0ken\n    client-certificate-data: Zm9v\n    client-key-data: YmFy",
            "    certificate-authority-data: Zm9v\n    insecure-skip-tls-verify: false",
        )
    )


def test_helm_refuses_an_exec_kubeconfig_too(tmp_path):
    from jobs.helm.releases import helm_status

    marker = tmp_path / "exec-ran"
    access = kube_access.ClusterAccess(kubeconfig=kubeconfig(exec_user(marker)))
    with pytest.raises(kube_access.ClusterConfigInvalid, match="exec"):
        helm_status(access, "default", "web")
    assert not marker.exists()


def test_a_server_that_is_not_kubernetes_is_named_as_such():
    import http.server
    import threading

    class NotKubernetes(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b'{"service": "internal-billing", "secret": "internal-body-text"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotKubernetes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        text = kubeconfig("    token: t0ken", server=f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(kube_access.ClusterError, match="not answer like a") as caught:
            cluster.server_version(kube_access.ClusterAccess(kubeconfig=text))
    finally:
        server.shutdown()
        server.server_close()
    assert "internal-body-text" not in str(caught.value)
