"""The state file: every object and the resourceVersion counter, as JSON."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from sandbox.kube.resources import CRD_GROUP, RESOURCES, custom_resources
from sandbox.kube.store import Store


def load(store: Store, path: str | os.PathLike) -> bool:
    """Fill ``store`` from ``path``; False when there is no state file yet."""
    target = Path(path)
    if not target.exists():
        return False
    data = json.loads(target.read_text())
    served = {r.key: r for r in RESOURCES}
    for entry in data.get("objects", []):
        if entry.get("resource") == f"{CRD_GROUP}/customresourcedefinitions":
            for res in custom_resources(entry["object"]):
                served.setdefault(res.key, res)
    store.restore(data, served)
    return True


def save(store: Store, path: str | os.PathLike) -> None:
    """Write the store to ``path`` atomically (temp file + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = store.snapshot()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


class StateSaver:
    """Saves the store at most every ``interval`` seconds while it changes, and at stop."""

    def __init__(self, store: Store, path: str | os.PathLike, interval: float = 0.5) -> None:
        self.store = store
        self.path = path
        self.interval = interval
        self._saved = store.revision
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-state", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.save_if_changed()

    def save_if_changed(self) -> None:
        revision = self.store.revision
        if revision != self._saved:
            save(self.store, self.path)
            self._saved = revision

    def stop(self) -> None:
        """Stop the thread and write the final state."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        save(self.store, self.path)
