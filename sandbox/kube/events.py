"""Core v1 Events the simulated controllers write, so ``kubectl get events`` shows them."""

from __future__ import annotations

import secrets

from sandbox.kube.api import Api
from sandbox.kube.resources import Resource, by_plural

EVENTS = by_plural("", "events")
MAX_EVENTS = 500


def record_event(
    api: Api,
    res: Resource,
    obj: dict,
    event_type: str,
    reason: str,
    message: str,
    component: str = "kubelet",
) -> None:
    """Write one Event about ``obj``; the oldest ones go once there are too many."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    stamp = api.now()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": res.api_version,
            "kind": res.kind,
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": event_type,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "sandbox-node",
    }
    api.create(EVENTS, namespace, event)
    keys = api.store.keys(EVENTS)
    if len(keys) > MAX_EVENTS:
        items, _ = api.store.list(EVENTS)
        items.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
        for old in items[: len(items) - MAX_EVENTS]:
            api.store.remove(EVENTS, old["metadata"]["namespace"], old["metadata"]["name"])
