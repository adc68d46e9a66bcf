"""Small facts about stored objects that the simulated controllers share."""

from __future__ import annotations

import copy
import hashlib
import json

from sandbox.kube.api import Api
from sandbox.kube.resources import Resource, by_plural

PODS = by_plural("", "pods")
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict) -> str:
    """A stable 10-character hash of a pod template, like ``pod-template-hash``."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(10):
        number, index = divmod(number, len(_HASH_ALPHABET))
        chars.append(_HASH_ALPHABET[index])
    return "".join(chars)


def owner_reference(res: Resource, obj: dict) -> dict:
    """A controller ownerReference pointing at ``obj``."""
    return {
        "apiVersion": res.api_version,
        "kind": res.kind,
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: dict) -> str | None:
    """The uid of the object's controlling owner, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def by_owner(items: list[dict]) -> dict[str, list[dict]]:
    """Objects grouped by their controlling owner's uid."""
    grouped: dict[str, list[dict]] = {}
    for item in items:
        uid = controller_uid(item)
        if uid:
            grouped.setdefault(uid, []).append(item)
    return grouped


def pod_ready(pod: dict) -> bool:
    """Is the pod Running with its Ready condition True?"""
    status = pod.get("status", {})
    if status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def set_status(api: Api, res: Resource, namespace: str, name: str, status: dict) -> bool:
    """Write ``status`` if it differs from the stored one; False if the object is gone."""
    with api.store.lock:
        current = api.store.get(res, namespace, name)
        if current is None:
            return False
        if current.get("status") != status:
            current["status"] = copy.deepcopy(status)
            api.store.put(res, current)
        return True


def set_annotations(api: Api, res: Resource, namespace: str, name: str, values: dict) -> None:
    """Set annotations on a stored object without touching anything else."""
    with api.store.lock:
        current = api.store.get(res, namespace, name)
        if current is None:
            return
        annotations = current["metadata"].setdefault("annotations", {}) or {}
        if all(annotations.get(k) == v for k, v in values.items()):
            return
        annotations.update(values)
        current["metadata"]["annotations"] = annotations
        api.store.put(res, current)


def pod_from_template(
    owner_res: Resource, owner: dict, template: dict, name: str, labels: dict[str, str]
) -> dict:
    """A Pod body from a workload's pod template, owned by the workload."""
    meta = copy.deepcopy(template.get("metadata") or {})
    meta["name"] = name
    meta["namespace"] = owner["metadata"]["namespace"]
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["ownerReferences"] = [owner_reference(owner_res, owner)]
    for key in ("creationTimestamp", "resourceVersion", "uid"):
        meta.pop(key, None)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }
