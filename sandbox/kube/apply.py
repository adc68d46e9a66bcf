"""Server-side apply, approximated: merge the applied config and track field managers.

The applied configuration is merged like a strategic merge patch. Each apply
manager's field set is recorded in ``metadata.managedFields`` (``fieldsV1``);
fields a manager applied before and no longer applies are removed unless
another manager owns them; without ``force`` a field another *apply*
manager owns with a different value is a 409 conflict. Field ownership of
non-apply writes (PUT, PATCH) is not tracked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sandbox.kube.errors import ApiError
from sandbox.kube.patches import merge_key, strategic_merge

Path = tuple[str, ...]
_IGNORED_TOP = {"apiVersion", "kind", "status"}
_IGNORED_META = {
    "name",
    "namespace",
    "resourceVersion",
    "uid",
    "managedFields",
    "creationTimestamp",
    "generation",
}


def _key_field(item: dict, key: str) -> str:
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))


def field_paths(obj: dict) -> set[Path]:
    """Leaf paths an applied configuration sets, in ``fieldsV1`` notation."""
    paths: set[Path] = set()

    def walk(value: Any, prefix: Path, field: str | None) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, prefix + (f"f:{k}",), k)
            return
        if isinstance(value, list) and field and (key := merge_key(field, value)):
            if all(isinstance(i, dict) and key in i for i in value):
                for item in value:
                    element = prefix + (_key_field(item, key),)
                    paths.add(element + (".",))
                    for k, v in item.items():
                        walk(v, element + (f"f:{k}",), k)
                return
        paths.add(prefix)

    for top, value in obj.items():
        if top in _IGNORED_TOP:
            continue
        if top == "metadata":
            for k, v in (value or {}).items():
                if k not in _IGNORED_META:
                    walk(v, ("f:metadata", f"f:{k}"), k)
        else:
            walk(value, (f"f:{top}",), top)
    return paths


def to_fields_v1(paths: set[Path]) -> dict:
    """The nested ``fieldsV1`` document for a set of paths."""
    root: dict = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(part, {})
    return root


def from_fields_v1(doc: dict, prefix: Path = ()) -> set[Path]:
    """Leaf paths of a ``fieldsV1`` document."""
    paths: set[Path] = set()
    for part, child in (doc or {}).items():
        if child:
            paths |= from_fields_v1(child, prefix + (part,))
        else:
            paths.add(prefix + (part,))
    return paths


def _step(node: Any, part: str) -> Any:
    if part.startswith("f:") and isinstance(node, dict):
        return node.get(part[2:], _MISSING)
    if part.startswith("k:") and isinstance(node, list):
        want = json.loads(part[2:])
        for item in node:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in want.items()):
                return item
    return _MISSING


_MISSING = object()


def _value_at(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if part == ".":
            break
        node = _step(node, part)
        if node is _MISSING:
            return _MISSING
    return node


def _remove_at(obj: Any, path: Path) -> None:
    if path[-1] == ".":
        path = path[:-1]
    parent = _value_at(obj, path[:-1])
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        item = _step(parent, last)
        if item is not _MISSING:
            parent.remove(item)


def _managers(obj: dict) -> list[dict]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def _describe(path: Path) -> str:
    return "".join("." + p[2:] if p.startswith("f:") else f"[{p[2:]}]" for p in path if p != ".")


def apply(
    current: dict | None, applied: dict, manager: str, force: bool, stamp: str | None = None
) -> dict:
    """The object after ``manager`` applies ``applied`` to ``current`` (None: create)."""
    current = current or {}
    new_paths = field_paths(applied)
    entries = _managers(current)
    mine = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None
    )
    others = [e for e in entries if e is not mine]
    other_paths: dict[str, set[Path]] = {
        e.get("manager", ""): from_fields_v1(e.get("fieldsV1") or {})
        for e in others
        if e.get("operation") == "Apply"
    }
    # A conflict is a field another apply manager owns with a different value; fields
    # applied with the same value become co-owned and stay with both managers.
    conflicts: dict[str, set[Path]] = {}
    for path in sorted(new_paths):
        if path[-1] == ".":
            continue
        for owner, owned in other_paths.items():
            if path in owned and _value_at(current, path) != _value_at(applied, path):
                conflicts.setdefault(owner, set()).add(path)
    if conflicts and not force:
        lines = [
            f'conflict with "{owner}": {_describe(path)}'
            for owner, paths in conflicts.items()
            for path in sorted(paths)
        ]
        raise ApiError(
            409,
            "Conflict",
            f"Apply failed with {len(lines)} conflict{'s' if len(lines) > 1 else ''}: "
            + "\n".join(lines),
        )
    body = {k: v for k, v in applied.items() if k not in _IGNORED_TOP}
    body["metadata"] = {
        k: v for k, v in (applied.get("metadata") or {}).items() if k not in _IGNORED_META
    }
    result = strategic_merge(current, body)
    if mine is not None:
        still_owned = set().union(*other_paths.values()) if other_paths else set()
        dropped = from_fields_v1(mine.get("fieldsV1") or {}) - new_paths - still_owned
        # Whole list elements first, while their key fields can still find them.
        for path in sorted(dropped, key=lambda p: (p[-1] != ".", -len(p))):
            _remove_at(result, path)
    # --force-conflicts takes only the conflicting fields away from their managers.
    for entry in others:
        is_apply = entry.get("operation") == "Apply"
        lost = conflicts.get(entry.get("manager", "")) if is_apply else None
        if lost:
            owned = from_fields_v1(entry.get("fieldsV1") or {}) - lost
            entry["fieldsV1"] = to_fields_v1(owned)
    entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": applied.get("apiVersion", ""),
        "time": stamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(new_paths),
    }
    result.setdefault("metadata", {})["managedFields"] = [
        e for e in others if e.get("fieldsV1") or e.get("operation") != "Apply"
    ] + [entry]
    return result
