"""Helm values: parse safely, find and rewrite image paths, apply global variables, diff.

Plain Python (no Flask, no Helm SDK): everything here works on dicts and text.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml

from jobs.kube.safe_yaml import MAX_NODES, YamlInputError, kind_of, load_documents
from jobs.oci.ref import ImageRef

KeyPath = tuple[str, ...]

# A values document may use anchors; this many expanded nodes is far beyond any real chart.
MAX_VALUE_NODES = MAX_NODES


class ValuesError(ValueError):
    """Values (or global variables) that cannot be used; the message says why."""


class ImagePathError(ValueError):
    """An image path that is malformed or missing from the values."""


def parse_values(text: str, max_bytes: int, *, what: str = "values") -> dict[str, Any]:
    """Load a values document: size limit, safe YAML, one mapping (empty text is ``{}``).

    ``what`` names the document in error messages ("values", "global variables").
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise ValuesError(f"The {what} are larger than {max_bytes // 1024} KiB ({size} bytes).")
    try:
        documents = load_documents(text, max_bytes, what=f"The {what}")
    except YamlInputError as exc:
        if exc.reason == "syntax":
            raise ValuesError(f"The {what} are not valid YAML: {exc.detail}") from exc
        raise ValuesError(f"The {what} are not usable YAML: {exc.detail}") from exc
    if not documents:
        return {}
    if len(documents) > 1:
        raise ValuesError(f"The {what} are not valid YAML: one document, not {len(documents)}.")
    loaded = documents[0]
    if not isinstance(loaded, dict):
        raise ValuesError(
            f"The {what} must be a YAML mapping (key: value lines), not {kind_of(loaded)}."
        )
    return loaded


def dump_values(values: Mapping[str, Any]) -> str:
    """Values as YAML text in their own key order (empty values give an empty text)."""
    if not values:
        return ""
    return yaml.safe_dump(dict(values), sort_keys=False, allow_unicode=True)


def values_diff(
    old_text: str, new_text: str, *, old_label: str = "environment", new_label: str = "edited"
) -> str:
    """A unified diff of two values texts; empty when they are the same."""
    old_lines = [line if line.endswith("\n") else line + "\n" for line in old_text.splitlines()]
    new_lines = [line if line.endswith("\n") else line + "\n" for line in new_text.splitlines()]
    return "".join(difflib.unified_diff(old_lines, new_lines, old_label, new_label))


class AppliedGlobals(NamedTuple):
    """The values after Apply and the dotted keys whose value changed."""

    values: dict[str, Any]
    changed: list[str]


def apply_global_variables(
    values: Mapping[str, Any], globals_yaml: str, *, max_bytes: int = 512 * 1024
) -> AppliedGlobals:
    """Set each key of the global block that ``values`` already has (nested mappings recursively).

    Keys the service's values lack are not added. ``values`` is not changed:
    Reset is keeping the values from before the call.
    """
    block = parse_values(globals_yaml, max_bytes, what="global variables")
    result = copy.deepcopy(dict(values))
    changed: list[str] = []
    _apply_block(result, block, (), changed)
    return AppliedGlobals(result, changed)


def _apply_block(
    target: dict[str, Any], block: Mapping[str, Any], prefix: KeyPath, changed: list[str]
) -> None:
    for key, value in block.items():
        if key not in target:
            continue
        path = (*prefix, str(key))
        current = target[key]
        if isinstance(value, dict) and isinstance(current, dict):
            _apply_block(current, value, path, changed)
        elif not _same(current, value):
            target[key] = copy.deepcopy(value)
            changed.append(".".join(path))


def missing_global_keys(values: Mapping[str, Any], block: Mapping[str, Any]) -> list[str]:
    """Dotted keys of the global block that ``values`` lacks (Apply leaves them out)."""
    missing: list[str] = []
    _missing(values, block, (), missing)
    return missing


def _missing(target: Any, block: Mapping[str, Any], prefix: KeyPath, found: list[str]) -> None:
    for key, value in block.items():
        path = (*prefix, str(key))
        if not isinstance(target, Mapping) or key not in target:
            found.append(".".join(path))
        elif isinstance(value, dict) and isinstance(target[key], dict):
            _missing(target[key], value, path, found)


def add_global_keys(
    values: Mapping[str, Any], globals_yaml: str, *, max_bytes: int = 512 * 1024
) -> AppliedGlobals:
    """Like :func:`apply_global_variables`, and add the keys ``values`` lacks too."""
    block = parse_values(globals_yaml, max_bytes, what="global variables")
    result = apply_global_variables(values, globals_yaml, max_bytes=max_bytes)
    merged = result.values
    added = missing_global_keys(merged, block)
    _add_block(merged, block)
    return AppliedGlobals(merged, result.changed + added)


def _add_block(target: dict[str, Any], block: Mapping[str, Any]) -> None:
    for key, value in block.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(target[key], dict):
            _add_block(target[key], value)


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python, but `replicas: 1` and `replicas: true` are different values.
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class ImagePath:
    """Where one image lives in a chart's values.

    Either ``repository`` alone holds ``repo:tag``, or ``repository`` holds the
    repository and ``tag`` the tag, optionally with ``registry`` holding the
    registry host (Bitnami style). Paths are tuples of keys.
    """

    repository: KeyPath
    tag: KeyPath | None = None
    registry: KeyPath | None = None

    def __post_init__(self) -> None:
        if self.registry is not None and self.tag is None:
            raise ImagePathError("An image path with a registry key also needs a tag key.")
        for path in self.paths:
            if not path or any(not key or "." in key or "+" in key for key in path):
                raise ImagePathError(f"{'.'.join(path)!r} is not a usable values key path.")

    @property
    def paths(self) -> list[KeyPath]:
        """The key paths in label order: registry, repository, tag (those present)."""
        return [p for p in (self.registry, self.repository, self.tag) if p is not None]

    @property
    def label(self) -> str:
        """Dotted paths joined by ``+``: ``image.repository+image.tag``, ``backend.image``."""
        return "+".join(".".join(path) for path in self.paths)

    @classmethod
    def parse(cls, label: str) -> ImagePath:
        """Read a label: one path, repository+tag, or registry+repository+tag."""
        parts = [tuple(part.strip().split(".")) for part in label.strip().split("+")]
        if len(parts) == 1:
            return cls(parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        if len(parts) == 3:
            return cls(parts[1], parts[2], parts[0])
        raise ImagePathError(
            f"{label!r} is not an image path: use 'a.image' (holding repo:tag), "
            "'a.image.repository+a.image.tag' or 'a.image.registry+a.image.repository+a.image.tag'."
        )

    def __str__(self) -> str:
        return self.label


def detect_image_paths(values: Mapping[str, Any]) -> list[ImagePath]:
    """Find the images in values: ``*image`` keys holding ``repo:tag`` or a repository+tag block.

    Nested components (``frontend.image.repository``) are found at any depth;
    lists are not searched. Keys containing ``.`` or ``+`` are skipped.
    """
    found: list[ImagePath] = []
    _walk(values, (), found)
    return found


def _walk(node: Mapping[Any, Any], prefix: KeyPath, found: list[ImagePath]) -> None:
    for key, value in node.items():
        if not isinstance(key, str) or not key or "." in key or "+" in key:
            continue
        path = (*prefix, key)
        if key.lower().endswith("image"):
            if _is_image_block(value):
                registry = (*path, "registry") if isinstance(value.get("registry"), str) else None
                found.append(ImagePath((*path, "repository"), (*path, "tag"), registry))
                continue
            if isinstance(value, str) and _looks_like_image(value):
                found.append(ImagePath(path))
                continue
        if isinstance(value, dict):
            _walk(value, path, found)


def _is_image_block(value: Any) -> bool:
    if not isinstance(value, dict) or "repository" not in value or "tag" not in value:
        return False
    tag = value["tag"]
    return (
        isinstance(value["repository"], str)
        and bool(value["repository"])
        and (tag is None or (isinstance(tag, str | int | float) and not isinstance(tag, bool)))
    )


def _looks_like_image(text: str) -> bool:
    if not text or any(ch.isspace() for ch in text):
        return False
    try:
        ImageRef.parse(text)
    except ValueError:
        return False
    return True


def parse_image_paths(text: str) -> list[ImagePath]:
    """Image paths from text, one label per line (blank lines ignored); the UI's edit field."""
    paths = [ImagePath.parse(line) for line in text.splitlines() if line.strip()]
    labels = [path.label for path in paths]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ImagePathError(f"The image path {duplicates[0]!r} is listed twice.")
    return paths


def format_image_paths(paths: Iterable[ImagePath]) -> str:
    """Image paths as text, one label per line (what ``parse_image_paths`` reads)."""
    return "".join(f"{path.label}\n" for path in paths)


def read_images(
    values: Mapping[str, Any], paths: Iterable[ImagePath], *, default_tag: str | None = None
) -> dict[str, str]:
    """The image each path holds, by label: ``{"image.repository+image.tag": "repo:tag"}``.

    An empty tag is ``default_tag`` (charts often default it to appVersion);
    without one the ref has no tag. A missing key raises ``ImagePathError``.
    """
    images: dict[str, str] = {}
    for path in paths:
        repository = _text_at(values, path.repository)
        if path.tag is None:
            images[path.label] = repository
            continue
        tag = _text_at(values, path.tag, allow_empty=True) or default_tag or ""
        if path.registry is not None:
            registry = _text_at(values, path.registry, allow_empty=True)
            repository = f"{registry}/{repository}" if registry else repository
        images[path.label] = f"{repository}:{tag}" if tag else repository
    return images


def rewrite_images(
    values: Mapping[str, Any], paths: Iterable[ImagePath], targets: Mapping[str, str]
) -> dict[str, Any]:
    """A copy of ``values`` with each image named in ``targets`` (by label) set to its target ref.

    Targets are ``repo:tag`` refs (no digest: a tag key cannot hold one).
    Images not named in ``targets`` keep their values.
    """
    by_label = {path.label: path for path in paths}
    unknown = sorted(set(targets) - set(by_label))
    if unknown:
        raise ImagePathError(f"No image path {unknown[0]!r} in this service's image paths.")
    result = copy.deepcopy(dict(values))
    for label, ref in targets.items():
        path = by_label[label]
        repository, tag = _split_target(ref)
        if path.tag is None:
            _set_at(result, path.repository, ref.strip())
            continue
        if path.registry is not None:
            parsed = ImageRef.parse(ref)
            _set_at(result, path.registry, parsed.registry)
            _set_at(result, path.repository, parsed.repository)
        else:
            _set_at(result, path.repository, repository)
        _set_at(result, path.tag, tag)
    return result


def pin_digests(
    values: Mapping[str, Any], paths: Iterable[ImagePath], digests: Mapping[str, str]
) -> dict[str, Any]:
    """A copy of ``values`` with each image named in ``digests`` (by label) pinned to its digest.

    A ``repo:tag`` path becomes ``repo:tag@sha256:…``; a repository+tag pair gets the
    digest on its tag (``tag@sha256:…``), which charts render as ``repo:tag@sha256:…``.
    A value that already names a digest is left alone.
    """
    by_label = {path.label: path for path in paths}
    result = copy.deepcopy(dict(values))
    for label, digest in digests.items():
        path = by_label.get(label)
        if path is None or not digest:
            continue
        key = path.tag if path.tag is not None else path.repository
        current = _text_at(result, key, allow_empty=True)
        if current and "@" not in current:
            _set_at(result, key, f"{current}@{digest}")
    return result


def _split_target(ref: str) -> tuple[str, str]:
    text = ref.strip()
    try:
        parsed = ImageRef.parse(text)
    except ValueError as exc:
        raise ImagePathError(f"The target image {ref!r} is not an image reference: {exc}") from exc
    if parsed.digest or ":" not in text.rsplit("/", 1)[-1]:
        raise ImagePathError(f"The target image {ref!r} must be repository:tag (no digest).")
    repository, _, tag = text.rpartition(":")
    return repository, tag


def _text_at(values: Mapping[str, Any], path: KeyPath, *, allow_empty: bool = False) -> str:
    node: Any = values
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            missing = ".".join(path[: depth + 1])
            raise ImagePathError(f"The values have no key {missing!r}.")
        node = node[key]
    if node is None and allow_empty:
        return ""
    if isinstance(node, bool) or not isinstance(node, str | int | float):
        raise ImagePathError(f"The values key {'.'.join(path)!r} does not hold text.")
    text = str(node)
    if not text and not allow_empty:
        raise ImagePathError(f"The values key {'.'.join(path)!r} is empty.")
    return text


def _set_at(values: dict[str, Any], path: KeyPath, value: str) -> None:
    node = values
    for depth, key in enumerate(path[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            where = ".".join(path[: depth + 1])
            raise ImagePathError(f"The values key {where!r} is not a mapping.")
        node = child
    node[path[-1]] = value
