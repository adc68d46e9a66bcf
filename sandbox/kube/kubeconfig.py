"""A kubeconfig that points kubectl, the kubernetes client and Helm at the sandbox."""

from __future__ import annotations

import os
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
    """Write ``text`` to ``path`` readable by the owner only; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return str(target)
