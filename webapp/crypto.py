"""Encryption of secrets at rest (registry passwords, kubeconfigs)."""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


@functools.lru_cache(maxsize=8)
def _fernet(secret: str) -> Fernet:
    try:
        return Fernet(secret.encode())
    except (ValueError, TypeError):
        # Not a Fernet key: derive one, so any long random string works.
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"slipway-secrets", info=b"fernet"
        ).derive(secret.encode())
        return Fernet(base64.urlsafe_b64encode(derived))


def _current_fernet() -> Fernet:
    config = current_app.config
    return _fernet(config.get("ENCRYPTION_KEY") or config["SECRET_KEY"])


def encrypt(plaintext: str) -> str:
    return _current_fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current_fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "a stored secret cannot be decrypted: SLIPWAY_ENCRYPTION_KEY (or SECRET_KEY) changed"
        ) from exc


class EncryptedText(TypeDecorator):
    """A text column stored encrypted; Python code sees plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)
