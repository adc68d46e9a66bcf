"""What a version will hold, before it exists: planned services and their images."""

from __future__ import annotations

from dataclasses import dataclass, field

from webapp.models import Service
from webapp.versions.yaml_images import rewrite_images


@dataclass
class PlannedImage:
    key: str  # "<service id>/<container>": how the draft refers to this image
    container: str
    source_ref: str
    repository: str
    tag: str
    push: bool

    @property
    def target_ref(self) -> str:
        """Where the image goes; an image not pushed keeps its source."""
        return f"{self.repository}:{self.tag}" if self.push else self.source_ref


@dataclass
class PlannedService:
    service: Service
    source_yaml: str
    images: list[PlannedImage] = field(default_factory=list)

    @property
    def yaml(self) -> str:
        """The YAML with every image rewritten to its target."""
        return rewrite_images(self.source_yaml, {i.container: i.target_ref for i in self.images})


def image_key(service_id: int, container: str) -> str:
    return f"{service_id}/{container}"
