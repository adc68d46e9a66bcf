"""Read the images of a service's YAML and rewrite them to their targets."""

from __future__ import annotations

import yaml

from jobs.kube.safe_yaml import YamlInputError, load_documents
from webapp.catalog.validation import InvalidInput, pod_spec

# Stored texts passed their form's limit; this bounds reading one saved before the checks.
_STORED_LIMIT = 16 * 1024 * 1024


def _documents(text: str | None) -> list:
    try:
        return load_documents(text or "", _STORED_LIMIT)
    except YamlInputError:
        return []  # a text saved before it was checked: it holds no images to read


def containers_and_images(text: str) -> dict[str, str]:
    """``{container name: image}`` over every workload of the YAML, first one wins."""
    found: dict[str, str] = {}
    for document in _documents(text):
        for container in _containers(document):
            name, image = container.get("name"), container.get("image")
            if name and image:
                found.setdefault(str(name), str(image))
    return found


def rewrite_images(text: str, images: dict[str, str]) -> str:
    """The YAML with each container named in ``images`` set to its new image.

    A text that cannot be read (saved before it was checked) is kept as it is.
    """
    try:
        documents = load_documents(text or "", _STORED_LIMIT)
    except YamlInputError:
        return text or ""
    for document in documents:
        for container in _containers(document):
            if container.get("name") in images:
                container["image"] = images[container["name"]]
    return yaml.safe_dump_all(documents, sort_keys=False)


def _containers(document) -> list[dict]:
    if not isinstance(document, dict):
        return []
    try:
        spec = pod_spec(document)
    except InvalidInput:
        return []  # a workload of the wrong shape has no containers to read
    if not spec:
        return []
    return [
        container
        for key in ("initContainers", "containers")
        for container in spec.get(key) or []
        if isinstance(container, dict)
    ]
