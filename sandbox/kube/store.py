"""The in-memory object store: objects by resource/namespace/name, the
resourceVersion counter, and the change log that watches read from."""

from __future__ import annotations

import copy
import threading
from collections import deque
from dataclasses import dataclass

from sandbox.kube.clock import Clock
from sandbox.kube.resources import Resource

ObjectKey = tuple[str, str, str]  # (resource key, namespace or "", name)


@dataclass(frozen=True)
class Change:
    """One entry of the change log: what a watch sends."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    resource_key: str
    object: dict
    old: dict | None


class Store:
    """Thread-safe object storage. Stored dicts are replaced, never mutated in place."""

    def __init__(self, log_size: int = 20000, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._objects: dict[ObjectKey, dict] = {}
        self._rv = 0
        self._log: deque[Change] = deque(maxlen=log_size)
        self._log_start = 0
        self.pod_logs: dict[tuple[str, str], str] = {}
        self.revision = 0  # bumps on every write, for the state saver

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def get(self, res: Resource, namespace: str, name: str) -> dict | None:
        """A copy of the object, or None."""
        with self.lock:
            obj = self._objects.get((res.key, namespace if res.namespaced else "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, res: Resource, namespace: str | None = None) -> tuple[list[dict], int]:
        """Copies of the objects of one resource (in one namespace or all), and the current rv."""
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (key, ns, _), obj in sorted(self._objects.items())
                if key == res.key and (namespace is None or ns == namespace)
            ]
            return items, self._rv

    def keys(self, res: Resource) -> list[ObjectKey]:
        with self.lock:
            return [k for k in self._objects if k[0] == res.key]

    def put(self, res: Resource, obj: dict) -> dict:
        """Store ``obj`` with a new resourceVersion; returns a copy as stored."""
        with self.lock:
            meta = obj["metadata"]
            key = (res.key, meta.get("namespace", "") if res.namespaced else "", meta["name"])
            old = self._objects.get(key)
            self._rv += 1
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(self._rv)
            self._objects[key] = stored
            self._record(Change(self._rv, "MODIFIED" if old else "ADDED", res.key, stored, old))
            return copy.deepcopy(stored)

    def remove(self, res: Resource, namespace: str, name: str) -> dict | None:
        """Delete the object; returns it (as last stored) or None."""
        with self.lock:
            key = (res.key, namespace if res.namespaced else "", name)
            old = self._objects.pop(key, None)
            if old is None:
                return None
            self._rv += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._record(Change(self._rv, "DELETED", res.key, gone, old))
            if res.key == "core/pods":
                self.pod_logs.pop((namespace, name), None)
            return copy.deepcopy(gone)

    def _record(self, change: Change) -> None:
        if len(self._log) == self._log.maxlen:
            self._log_start = self._log[0].resource_version
        self._log.append(change)
        self.revision += 1
        self._changed.notify_all()

    def changes_after(self, resource_version: int) -> list[Change] | None:
        """Log entries newer than ``resource_version``; None if that is too old to replay."""
        with self.lock:
            if resource_version < self._log_start:
                return None
            return [c for c in self._log if c.resource_version > resource_version]

    def wait_for_change(self, after: int, timeout: float) -> None:
        """Block until the store moves past ``after`` or ``timeout`` seconds pass."""
        with self.lock:
            if self._rv <= after:
                self._changed.wait(timeout)

    def snapshot(self) -> dict:
        """Everything the state file keeps."""
        with self.lock:
            return {
                "resourceVersion": self._rv,
                "objects": [
                    {"resource": key[0], "object": obj}
                    for key, obj in sorted(self._objects.items())
                ],
                "podLogs": [
                    {"namespace": ns, "name": name, "text": text}
                    for (ns, name), text in self.pod_logs.items()
                ],
            }

    def restore(self, data: dict, resources: dict[str, Resource]) -> None:
        """Load a snapshot; objects of resources no longer served are dropped."""
        with self.lock:
            self._rv = int(data.get("resourceVersion", 0))
            self._log_start = self._rv
            self._log.clear()
            self._objects.clear()
            for entry in data.get("objects", []):
                res = resources.get(entry["resource"])
                if res is None:
                    continue
                meta = entry["object"]["metadata"]
                ns = meta.get("namespace", "") if res.namespaced else ""
                self._objects[(res.key, ns, meta["name"])] = entry["object"]
            self.pod_logs = {
                (e["namespace"], e["name"]): e["text"] for e in data.get("podLogs", [])
            }
