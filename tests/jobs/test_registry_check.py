"""check_registry against real docker-registry processes."""

from __future__ import annotations

import http.server
import threading

import pytest

from jobs.oci.registry import RegistryError, UnauthorizedError, check_registry


def test_anonymous_registry_answers(registry):
    text = check_registry(registry.address, plain_http=True)
    assert registry.address in text
    assert "anonymously" in text


def test_basic_auth_with_right_password(auth_registry):
    text = check_registry(
        auth_registry.address, username="slipway", password="s3cret-pw", plain_http=True
    )
    assert "slipway" in text and "basic" in text


@pytest.mark.parametrize("password", ["wrong-pw", None])
def test_basic_auth_refused_names_registry_and_hides_password(auth_registry, password):
    with pytest.raises(UnauthorizedError) as info:
        check_registry(
            auth_registry.address,
            username="slipway" if password else None,
            password=password,
            plain_http=True,
        )
    message = str(info.value)
    assert f"check the credentials of registry {auth_registry.address}" in message
    assert "401" in message
    assert "wrong-pw" not in message


def test_unreachable_registry():
    from sandbox.services import free_port

    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match=f"cannot reach registry {address}"):
        check_registry(address, plain_http=True, timeout=2)


def test_tls_error_on_plain_http_registry(registry):
    with pytest.raises(RegistryError, match="TLS error"):
        check_registry(registry.address, timeout=2)


def test_not_a_registry():
    class NotRegistry(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RegistryError, match="not a container registry"):
            check_registry(f"127.0.0.1:{server.server_port}", plain_http=True)
    finally:
        server.shutdown()
        server.server_close()
