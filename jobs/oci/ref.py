"""Parse image references the way Docker does: ``host[:port]/path[:tag][@digest]``."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"

_REPO_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z"
)
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z")


@dataclass(frozen=True)
class ImageRef:
    """One image: registry host, repository path, and a tag and/or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse ``text``; a bare name gets ``docker.io/library/`` and tag ``latest``."""
        rest = text.strip()
        if not rest:
            raise ValueError("empty image reference")
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST_RE.match(digest):
                raise ValueError(f"invalid digest in image reference {text!r}")
        registry = DOCKER_HUB
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, rest = first, remainder
        tag = None
        name, colon, maybe_tag = rest.rpartition(":")
        if colon and "/" not in maybe_tag:
            rest, tag = name, maybe_tag
            if not _TAG_RE.match(tag):
                raise ValueError(f"invalid tag in image reference {text!r}")
        if registry == DOCKER_HUB and "/" not in rest:
            rest = f"library/{rest}"
        if not _REPO_RE.match(rest):
            raise ValueError(f"invalid repository name in image reference {text!r}")
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=registry, repository=rest, tag=tag, digest=digest)

    @property
    def api_host(self) -> str:
        """The host[:port] that serves the registry API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when known, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageRef:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text
