"""A kubeconfig that points kubectl, the kubernetes client and Helm at the sandbox."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml


def kubeconfig_text(url: str, token: str | None = None, name: str = "sandbox") -> str:
    """Kubeconfig YAML with one cluster/user/context called ``name``."""
    user: dict = {"token": token} if token else {}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": user}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}
        ],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_kubeconfig(path: str | os.PathLike, text: str) -> str:
    """Write ``text`` to ``path`` (atomically, owner-only); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return str(target)
