"""Deploy what the version recorded: its images pinned to their digests, and tag drift found.

A version copies each image to ``repo:tag`` and records the digest that landed. A
deploy names ``repo:tag@sha256:…``: the cluster runs exactly that image even if the
tag was moved since. Before deploying, each tag is asked of the registry; a tag that
no longer points at the recorded digest is reported, naming both digests.
"""

from __future__ import annotations

import yaml

from jobs.helm.values import dump_values, parse_image_paths, pin_digests
from jobs.oci.registry import Credentials, NotFoundError, resolve
from webapp.versions.yaml_images import rewrite_images

MAX_VALUES_BYTES = 512 * 1024


class TagDrift(RuntimeError):
    """A deployed service's target tag no longer points at the digest its version recorded."""


def pinned_ref(image) -> str | None:
    """``repo:tag@sha256:…`` for a copied image with a recorded digest; None otherwise."""
    if not image.push or not image.target_digest or "@" in image.target_ref:
        return None
    return f"{image.target_ref}@{image.target_digest}"


def pinned_yaml(item) -> str:
    """The version service's YAML with every copied image pinned to its digest."""
    pins = {image.container: ref for image in item.images if (ref := pinned_ref(image))}
    text = item.yaml or ""
    return rewrite_images(text, pins) if pins else text


def pinned_values(item) -> dict:
    """The version service's values with every copied image pinned (through its image paths)."""
    values = yaml.safe_load(item.values_yaml or "") or {}
    digests = {image.container: image.target_digest for image in item.images if pinned_ref(image)}
    if not digests or not (item.image_paths or "").strip():
        return values
    return pin_digests(values, parse_image_paths(item.image_paths), digests)


def pinned_values_yaml(item) -> str:
    return dump_values(pinned_values(item))


def tag_drift(item, registry) -> list[str]:
    """One line per copied image whose tag the registry now resolves to another digest."""
    problems = []
    if registry is None:
        return problems
    auth = Credentials(registry.username, registry.password or "") if registry.username else None
    for image in item.images:
        if not pinned_ref(image):
            continue
        try:
            found = resolve(
                image.target_ref,
                auth=auth,
                plain_http=True if registry.plain_http else None,
                verify_tls=registry.verify_tls,
            )
        except NotFoundError:
            found = "(none: the tag was deleted)"
        except Exception:  # noqa: BLE001 - an unreachable registry: the pinned deploy goes on
            continue
        if found != image.target_digest:
            problems.append(
                f"{image.target_ref} now points at {found}, not at {image.target_digest} that "
                f"version {item.version.name} recorded; deployed the recorded digest"
            )
    return problems
