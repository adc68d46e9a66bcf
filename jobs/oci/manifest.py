"""Manifest media types and what a manifest points at (children, blobs, platforms)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """A content-addressed pointer: media type, digest, size (and platform for index children)."""

    media_type: str
    digest: str
    size: int
    platform: str | None = None


@dataclass(frozen=True)
class Manifest:
    """Manifest bytes exactly as fetched, with their media type and digest."""

    raw: bytes
    media_type: str
    digest: str

    @classmethod
    def from_response(cls, raw: bytes, content_type: str | None) -> Manifest:
        media_type = (content_type or "").split(";")[0].strip()
        if media_type not in INDEX_TYPES | {OCI_MANIFEST, DOCKER_MANIFEST}:
            media_type = json.loads(raw).get("mediaType") or media_type
        return cls(raw=raw, media_type=media_type, digest=sha256_digest(raw))

    @property
    def document(self) -> dict:
        return json.loads(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.document

    def children(self) -> list[Descriptor]:
        """The manifests an index lists (empty for an image manifest)."""
        if not self.is_index:
            return []
        return [
            Descriptor(m.get("mediaType", ""), m["digest"], m.get("size", 0), _platform(m))
            for m in self.document.get("manifests", [])
        ]

    def blobs(self) -> list[Descriptor]:
        """Config and layers of an image manifest; foreign (non-distributable) layers left out."""
        if self.is_index:
            return []
        doc = self.document
        found = [doc["config"]] if "config" in doc else []
        found += [layer for layer in doc.get("layers", []) if not layer.get("urls")]
        return [Descriptor(b.get("mediaType", ""), b["digest"], b.get("size", 0)) for b in found]


def _platform(entry: dict) -> str | None:
    platform = entry.get("platform")
    if not platform:
        return None
    parts = [platform.get("os", "unknown"), platform.get("architecture", "unknown")]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts)
