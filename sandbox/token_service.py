"""A small bearer-token service for registries configured with ``auth: token:``.

It implements the Docker registry token flow the way CNCF distribution 2.8
verifies it: a JWT signed RS256 by a self-signed certificate, whose DER goes
in the ``x5c`` header and whose PEM is the registry's ``rootcertbundle``;
claims ``iss``, ``aud`` (= service), ``exp``/``nbf``/``iat``, ``jti`` and
``access``. Users who sign in with a right password get every action they ask
for; anonymous callers get a token with no access; a wrong password gets 401.
For tests and demos only.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


class TokenService:
    """Signs registry tokens at ``http://127.0.0.1:PORT/token``; ``stop()`` ends it."""

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str],
        *,
        service: str = "slipway-test-registry",
        issuer: str = "slipway-test-token-service",
        lifetime: int = 300,
    ) -> None:
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.issued: list[tuple[str | None, tuple[str, ...]]] = []  # (user, scopes) per token
        self._key, cert = _self_signed(issuer)
        self._x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        workdir.mkdir(parents=True, exist_ok=True)
        self.rootcertbundle = workdir / "token-root.pem"
        self.rootcertbundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_config(self) -> dict[str, str]:
        """The ``auth: token:`` settings for ``sandbox.services.start_registry(token_auth=...)``."""
        return {
            "realm": self.realm,
            "service": self.service,
            "issuer": self.issuer,
            "rootcertbundle": str(self.rootcertbundle),
        }

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(self, user: str | None, scopes: list[str]) -> str:
        """A signed token granting ``user`` the scopes (nothing for anonymous)."""
        access = []
        if user is not None:
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        self.issued.append((user, tuple(scopes)))
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": self._x5c})

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                if url.path != "/token":
                    self._answer(404, {"error": "not found"})
                    return
                query = parse_qs(url.query)
                if query.get("service", [service.service])[0] != service.service:
                    self._answer(400, {"error": "unknown service"})
                    return
                user = self._user()
                if user is False:
                    self._answer(401, {"error": "invalid username or password"})
                    return
                scopes = [s for raw in query.get("scope", []) for s in raw.split(" ") if s]
                token = service.issue(user, scopes)
                self._answer(
                    200,
                    {
                        "token": token,
                        "access_token": token,
                        "expires_in": service.lifetime,
                        "issued_at": dt.datetime.now(dt.UTC).isoformat(),
                    },
                )

            def _user(self) -> str | None | bool:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                try:
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return False
                if service.users.get(user) is not None and secrets.compare_digest(
                    service.users[user], password
                ):
                    return user
                return False

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


def _self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert
