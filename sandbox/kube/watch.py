"""Watch streams: the change log filtered to what one watch request asked for."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from sandbox.kube.conversion import to_version
from sandbox.kube.errors import status_body
from sandbox.kube.resources import Resource
from sandbox.kube.selectors import parse_field_selector, parse_label_selector
from sandbox.kube.store import Store


def _typed(res: Resource, obj: dict) -> dict:
    return {**to_version(res, obj), "apiVersion": res.api_version, "kind": res.kind}


def watch_events(
    store: Store,
    res: Resource,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    resource_version: str | None = None,
    timeout: float = 1800.0,
    alive: Callable[[], bool] = lambda: True,
) -> Iterator[dict]:
    """Yield ``{"type", "object"}`` events until ``timeout`` or ``alive()`` turns False.

    With no resourceVersion (or "0") the current objects come first as ADDED.
    A resourceVersion older than the change log yields one ERROR 410 event.
    """
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector)

    def selected(obj: dict | None) -> bool:
        if obj is None:
            return False
        if namespace is not None and obj["metadata"].get("namespace", "") != namespace:
            return False
        return labels(obj) and fields(obj)

    deadline = time.monotonic() + timeout
    if resource_version in (None, "", "0"):
        items, last = store.list(res, namespace)
        for obj in items:
            if labels(obj) and fields(obj):
                yield {"type": "ADDED", "object": _typed(res, obj)}
    else:
        try:
            last = int(resource_version)
        except ValueError:
            last = store.resource_version
    while time.monotonic() < deadline and alive():
        changes = store.changes_after(last)
        if changes is None:
            yield {
                "type": "ERROR",
                "object": status_body(410, "Expired", f"too old resource version: {last}"),
            }
            return
        for change in changes:
            last = change.resource_version
            if change.resource_key != res.key:
                continue
            now_in, was_in = selected(change.object), selected(change.old)
            if change.type == "DELETED":
                kind = "DELETED" if was_in else None
            elif now_in:
                kind = "MODIFIED" if was_in and change.type == "MODIFIED" else "ADDED"
            else:
                kind = "DELETED" if was_in else None
            if kind:
                yield {"type": kind, "object": _typed(res, change.object)}
        if not changes:
            store.wait_for_change(last, min(1.0, max(0.0, deadline - time.monotonic())))
