"""What a new sandbox cluster starts with, and loading demo objects from YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.kube import errors
from sandbox.kube.api import NAMESPACES, Api

BASE_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "sandbox-node",
        "labels": {"kubernetes.io/hostname": "sandbox-node", "kubernetes.io/os": "linux"},
    },
    "spec": {},
    "status": {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "sandbox node is ready",
            }
        ],
        "nodeInfo": {
            "kubeletVersion": "v1.32.0",
            "containerRuntimeVersion": "sandbox://1.0",
            "operatingSystem": "linux",
            "architecture": "amd64",
            "kernelVersion": "",
            "osImage": "Slipway sandbox",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kubeProxyVersion": "",
        },
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
    },
}


def _create_missing(api: Api, doc: dict, namespace: str = "default") -> bool:
    res = api.by_kind(doc.get("apiVersion", ""), doc.get("kind", ""))
    if res is None:
        raise ValueError(f"the sandbox does not serve {doc.get('apiVersion')} {doc.get('kind')}")
    ns = (doc.get("metadata") or {}).get("namespace") or namespace
    if api.store.get(res, ns, doc["metadata"]["name"]) is not None:
        return False
    try:
        api.create(res, ns if res.namespaced else "", doc)
    except errors.ApiError as exc:
        raise ValueError(f"seed object {doc['metadata']['name']}: {exc.message}") from None
    return True


def ensure_cluster_basics(api: Api) -> None:
    """The namespaces and node every cluster has."""
    for name in BASE_NAMESPACES:
        _create_missing(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    _create_missing(api, NODE)
    for namespace in api.store.list(NAMESPACES)[0]:
        api.ensure_default_service_account(namespace["metadata"]["name"])


def seed_documents(api: Api, docs: list[dict]) -> int:
    """Create the objects that do not exist yet, namespaces first; returns how many.

    Objects that already exist (e.g. kept in the state file) are left as they are.
    """
    first = {"Namespace": 0, "CustomResourceDefinition": 1}
    ordered = sorted((d for d in docs if d), key=lambda d: first.get(d.get("kind", ""), 2))
    return sum(_create_missing(api, doc) for doc in ordered)


def load_yaml_documents(path: str | Path) -> list[dict]:
    """The objects of a multi-document YAML file."""
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
