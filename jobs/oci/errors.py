"""Errors raised while talking to an OCI registry, with messages a person can act on."""

from __future__ import annotations


class RegistryError(Exception):
    """A registry operation failed; ``str(err)`` says what happened and what to do.

    Messages name the registry, the image (when there is one) and the HTTP
    status, and never contain a password or token.
    """

    def __init__(
        self,
        message: str,
        *,
        registry: str | None = None,
        image: str | None = None,
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.registry = registry
        self.image = image
        self.status = status
        self.transient = transient
        self.retry_after = retry_after  # seconds the registry asked us to wait, if it did


class UnauthorizedError(RegistryError):
    """The registry refused our credentials (or asked for some we don't have)."""


class NotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist."""


class DigestMismatchError(RegistryError):
    """Content did not hash to the digest it was fetched or pushed under."""
