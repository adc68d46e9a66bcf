"""TLS: verified by default, skipped for loopback registries as Docker does, plain HTTP fallback."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobs.oci.registry import RegistryError, check_registry, resolve
from jobs.oci.transport import speaks_tls

DIGEST = "sha256:" + "c" * 64


@pytest.fixture
def tls_registry(tmp_path):
    """A tiny HTTPS server with a self-signed certificate that answers like a registry."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            self.send_response(200)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Docker-Content-Digest", DIGEST)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(b"{}")

        do_GET = do_HEAD = _answer  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_self_signed_certificate_is_refused_by_default(tls_registry):
    with pytest.raises(RegistryError, match=f"TLS error talking to registry {tls_registry}"):
        check_registry(tls_registry, timeout=5)


def test_verification_can_be_turned_off(tls_registry):
    assert "over HTTPS" in check_registry(tls_registry, verify_tls=False, timeout=5)


def test_loopback_registry_uses_https_without_verification_when_it_speaks_tls(tls_registry):
    assert speaks_tls(tls_registry, timeout=5)
    assert resolve(f"{tls_registry}/team/app:1") == DIGEST


def test_loopback_registry_falls_back_to_plain_http(registry):
    assert not speaks_tls(registry.address, timeout=5)
    with pytest.raises(RegistryError, match="not found"):
        resolve(f"{registry.address}/tls-test/none:1")


def test_explicit_https_keeps_verification_on_loopback(tls_registry):
    with pytest.raises(RegistryError, match="TLS error"):
        resolve(f"{tls_registry}/team/app:1", plain_http=False)
