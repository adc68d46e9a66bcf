"""What changes between two sides: images (with digests), configuration diffs, charts.

A side is what one version holds, or what an environment runs now (its
recorded state). Both are reduced to :class:`Side` (plain data), so the same
comparison serves version vs version and version vs environment.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass, field
from datetime import datetime

import yaml

from webapp.catalog.validation import workload_containers
from webapp.models import Environment, EnvironmentService, Version, VersionService


class Change(enum.StrEnum):
    SAME = "same"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class ImageRef:
    ref: str
    digest: str | None = None

    @property
    def short_digest(self) -> str:
        return self.digest.split(":", 1)[-1][:12] if self.digest else ""


@dataclass
class ServiceSide:
    """One service of one side: its images by container, its configuration, its chart."""

    name: str
    images: dict[str, ImageRef] = field(default_factory=dict)
    config: str | None = ""  # None: not recorded (an environment synced images only)
    chart: str | None = None  # "name version" for Helm services


@dataclass
class Side:
    label: str
    services: dict[str, ServiceSide]
    recorded_at: datetime | None = None


@dataclass
class ImageChange:
    container: str
    change: Change
    old: ImageRef | None
    new: ImageRef | None


@dataclass
class DiffLine:
    kind: str  # "add", "del", "hunk", "head", "context"
    text: str


@dataclass
class ServiceChange:
    name: str
    change: Change
    images: list[ImageChange]
    diff: list[DiffLine]
    old_chart: str | None
    new_chart: str | None
    config_unknown: bool = False

    @property
    def changed_images(self) -> list[ImageChange]:
        return [image for image in self.images if image.change is not Change.SAME]

    @property
    def chart_changed(self) -> bool:
        return self.old_chart != self.new_chart


@dataclass
class Comparison:
    old: Side
    new: Side
    services: list[ServiceChange]

    @property
    def changed(self) -> list[ServiceChange]:
        return [service for service in self.services if service.change is not Change.SAME]

    def counts(self) -> dict[str, int]:
        counts = {change.value: 0 for change in Change}
        for service in self.services:
            counts[service.change.value] += 1
        return counts


# --- building the sides ------------------------------------------------------


def _split_digest(ref: str) -> ImageRef:
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return ImageRef(name, digest)
    return ImageRef(ref)


def _yaml_images(text: str) -> dict[str, str]:
    try:
        documents = [doc for doc in yaml.safe_load_all(text or "") if isinstance(doc, dict)]
    except yaml.YAMLError:
        return {}
    return {container: image for _, _, container, image in workload_containers(documents)}


def version_service_side(item: VersionService) -> ServiceSide:
    """What a release of the version deploys for this service."""
    images: dict[str, ImageRef] = {}
    for image in item.images:
        ref = image.target_ref if image.push else image.source_ref
        digest = (image.target_digest if image.push else None) or image.source_digest
        plain = _split_digest(ref)
        images[image.container] = ImageRef(plain.ref, plain.digest or digest)
    if not images and not item.is_chart:
        images = {c: _split_digest(ref) for c, ref in _yaml_images(item.yaml).items()}
    config = (item.values_yaml or "") if item.is_chart else (item.yaml or "")
    chart = f"{item.chart_name} {item.chart_version or '(suggested)'}" if item.is_chart else None
    return ServiceSide(item.name, images, config, chart)


def version_side(version: Version) -> Side:
    return Side(
        f"version {version.name}",
        {item.name: version_service_side(item) for item in version.services},
        version.finished_at or version.created_at,
    )


def environment_service_side(state: EnvironmentService, helm: bool) -> ServiceSide:
    images = {image.container: _split_digest(image.image) for image in state.images}
    config = state.values_yaml if helm else state.rendered_yaml
    chart = None
    if helm and state.chart_version:
        chart = f"{state.service.chart_name or state.service.name} {state.chart_version}"
    return ServiceSide(state.service.name, images, config, chart)


def environment_side(env: Environment) -> Side:
    helm = env.project.kind.value == "helm"
    services = {
        state.service.name: environment_service_side(state, helm)
        for state in env.deployed
        if state.images or state.rendered_yaml or state.values_yaml
    }
    recorded = max((state.updated_at for state in env.deployed), default=None)
    if env.synced_at and (recorded is None or env.synced_at > recorded):
        recorded = env.synced_at
    return Side(f"environment {env.name}", services, recorded)


# --- comparing -----------------------------------------------------------------


def _image_change(old: ImageRef | None, new: ImageRef | None) -> Change:
    if old is None:
        return Change.ADDED
    if new is None:
        return Change.REMOVED
    if old.digest and new.digest:
        return Change.SAME if old.digest == new.digest else Change.CHANGED
    return Change.SAME if old.ref == new.ref else Change.CHANGED


def unified_diff(old: str, new: str, old_label: str, new_label: str) -> list[DiffLine]:
    """A unified diff as lines tagged for colouring; empty when the texts are equal."""
    old_lines = (old or "").splitlines()
    new_lines = (new or "").splitlines()
    lines = []
    for text in difflib.unified_diff(old_lines, new_lines, old_label, new_label, lineterm=""):
        if text.startswith(("---", "+++")):
            kind = "head"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        lines.append(DiffLine(kind, text))
    return lines


def compare_services(
    old: ServiceSide | None, new: ServiceSide | None, old_label: str, new_label: str
) -> ServiceChange:
    name = (new or old).name
    old_images = old.images if old else {}
    new_images = new.images if new else {}
    images = [
        ImageChange(
            container,
            _image_change(old_images.get(container), new_images.get(container)),
            old_images.get(container),
            new_images.get(container),
        )
        for container in sorted(set(old_images) | set(new_images))
    ]
    old_config = old.config if old else ""
    new_config = new.config if new else ""
    unknown = old_config is None or new_config is None
    diff = (
        []
        if unknown
        else unified_diff(old_config, new_config, f"{old_label}/{name}", f"{new_label}/{name}")
    )
    old_chart = old.chart if old else None
    new_chart = new.chart if new else None
    if old is None:
        change = Change.ADDED
    elif new is None:
        change = Change.REMOVED
    elif diff or old_chart != new_chart or any(i.change is not Change.SAME for i in images):
        change = Change.CHANGED
    else:
        change = Change.SAME
    return ServiceChange(name, change, images, diff, old_chart, new_chart, unknown)


def compare(old: Side, new: Side, *, only_new: bool = False) -> Comparison:
    """Every service of either side; with ``only_new``, only those the new side holds.

    ``only_new`` fits version vs environment: a release deploys the version's
    services and leaves the environment's others alone.
    """
    names = set(new.services) if only_new else set(old.services) | set(new.services)
    old_label = old.label.replace(" ", "-")
    new_label = new.label.replace(" ", "-")
    services = [
        compare_services(old.services.get(name), new.services.get(name), old_label, new_label)
        for name in sorted(names)
    ]
    return Comparison(old, new, services)


def compare_versions(old: Version, new: Version) -> Comparison:
    return compare(version_side(old), version_side(new))


def compare_with_environment(version: Version, env: Environment) -> Comparison:
    """What a release of ``version`` would change in ``env`` against its recorded state."""
    return compare(environment_side(env), version_side(version), only_new=True)
