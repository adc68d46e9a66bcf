"""The simulated endpoints and endpointslice controllers: a Service with a selector
gets an Endpoints object and an EndpointSlice listing its pods (ready ones as ready).

Selector-less Services are left alone, as in Kubernetes: their Endpoints are
whatever the user writes.
"""

from __future__ import annotations

import copy
import hashlib

from sandbox.kube.api import Api
from sandbox.kube.objects import owner_reference, pod_ready
from sandbox.kube.resources import by_plural
from sandbox.kube.selectors import matches_label_selector

SERVICES = by_plural("", "services")
ENDPOINTS = by_plural("", "endpoints")
ENDPOINT_SLICES = by_plural("discovery.k8s.io", "endpointslices")
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def _target_port(port: dict, pod: dict) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    for container in pod.get("spec", {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return declared.get("containerPort")
    return None


def _target_ref(pod: dict) -> dict:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _same(current: dict | None, wanted: dict, keys: tuple[str, ...]) -> bool:
    if current is None:
        return False
    labels = (current.get("metadata") or {}).get("labels")
    return labels == wanted["metadata"].get("labels") and all(
        current.get(k) == wanted.get(k) for k in keys
    )


def _write(api: Api, res, current: dict | None, wanted: dict, keys: tuple[str, ...]) -> None:  # noqa: ANN001
    if _same(current, wanted, keys):
        return
    if current is None:
        api.create(res, wanted["metadata"]["namespace"], wanted)
        return
    updated = copy.deepcopy(current)
    updated["metadata"]["labels"] = wanted["metadata"].get("labels")
    for key in keys:
        if key in wanted:
            updated[key] = wanted[key]
        else:
            updated.pop(key, None)
    with api.store.lock:
        api.store.put(res, updated)


def sync_service(api: Api, service: dict, pods: list[dict]) -> None:
    """Write the Service's Endpoints and EndpointSlice from the pods it selects."""
    meta, spec = service["metadata"], service.get("spec") or {}
    selector = spec.get("selector")
    if not selector or spec.get("type") == "ExternalName":
        return
    ns, name = meta["namespace"], meta["name"]
    selected = [
        p
        for p in pods
        if p["metadata"].get("namespace") == ns
        and matches_label_selector({"matchLabels": selector}, p["metadata"].get("labels") or {})
        and p.get("status", {}).get("podIP")
        and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    ]
    selected.sort(key=lambda p: p["metadata"]["name"])
    ports = spec.get("ports") or []
    first = selected[0] if selected else {}
    port_list = [
        {
            **({"name": p["name"]} if p.get("name") else {}),
            "port": _target_port(p, first) or p.get("port"),
            "protocol": p.get("protocol", "TCP"),
        }
        for p in ports
    ]
    ready = [p for p in selected if pod_ready(p)]
    waiting = [p for p in selected if not pod_ready(p)]

    def address(pod: dict) -> dict:
        return {
            "ip": pod["status"]["podIP"],
            "nodeName": pod["spec"].get("nodeName", "sandbox-node"),
            "targetRef": _target_ref(pod),
        }

    subset: dict = {}
    if ready:
        subset["addresses"] = [address(p) for p in ready]
    if waiting:
        subset["notReadyAddresses"] = [address(p) for p in waiting]
    if subset and port_list:
        subset["ports"] = port_list
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": meta.get("labels") or {}},
    }
    if subset:
        endpoints["subsets"] = [subset]
    _write(api, ENDPOINTS, api.store.get(ENDPOINTS, ns, name), endpoints, ("subsets",))

    suffix = hashlib.sha256(meta["uid"].encode()).hexdigest()[:5]
    slice_name = f"{name}-{suffix}"
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name,
            "namespace": ns,
            "labels": {
                **(meta.get("labels") or {}),
                SERVICE_NAME: name,
                MANAGED_BY: "endpointslice-controller.k8s.io",
            },
            "ownerReferences": [owner_reference(SERVICES, service)],
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {
                    "ready": pod_ready(p),
                    "serving": pod_ready(p),
                    "terminating": False,
                },
                "nodeName": p["spec"].get("nodeName", "sandbox-node"),
                "targetRef": _target_ref(p),
            }
            for p in selected
        ],
        "ports": port_list,
    }
    _write(
        api,
        ENDPOINT_SLICES,
        api.store.get(ENDPOINT_SLICES, ns, slice_name),
        endpoint_slice,
        ("addressType", "endpoints", "ports"),
    )
