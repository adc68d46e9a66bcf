"""Server-side printing: ``meta.k8s.io/v1`` Tables, which ``kubectl get`` asks for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sandbox.kube.resources import Resource


def wants_table(accept: str) -> bool:
    """Did the client ask for a Table (``application/json;as=Table;...``)?"""
    return "as=Table" in accept


def age(timestamp: str | None) -> str:
    """``5s``, ``3m``, ``2h``, ``4d``, like kubectl's AGE column."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2 or (unit == "m" and seconds >= 120):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _pod_status(pod: dict) -> str:
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason", "Waiting")
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated:
            return terminated.get("reason", "Terminated")
    return pod.get("status", {}).get("phase", "Unknown")


def _pod_cells(pod: dict) -> list:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    return [f"{ready}/{total}", _pod_status(pod), restarts]


def _status(obj: dict, key: str, default: object = 0) -> object:
    return obj.get("status", {}).get(key, default)


def _ports(svc: dict) -> str:
    ports = svc.get("spec", {}).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _job_status(job: dict) -> str:
    for cond in _status(job, "conditions", []) or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return cond["type"]
    return "Running"


Column = tuple[str, str, Callable[[dict], object]]
_COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        ("Ready", "string", lambda o: _pod_cells(o)[0]),
        ("Status", "string", lambda o: _pod_cells(o)[1]),
        ("Restarts", "string", lambda o: _pod_cells(o)[2]),
    ],
    "Deployment": [
        ("Ready", "string", lambda o: f"{_status(o, 'readyReplicas')}/{o['spec'].get('replicas')}"),
        ("Up-to-date", "integer", lambda o: _status(o, "updatedReplicas")),
        ("Available", "integer", lambda o: _status(o, "availableReplicas")),
    ],
    "ReplicaSet": [
        ("Desired", "integer", lambda o: o["spec"].get("replicas", 0)),
        ("Current", "integer", lambda o: _status(o, "replicas")),
        ("Ready", "integer", lambda o: _status(o, "readyReplicas")),
    ],
    "StatefulSet": [
        ("Ready", "string", lambda o: f"{_status(o, 'readyReplicas')}/{o['spec'].get('replicas')}")
    ],
    "DaemonSet": [
        ("Desired", "integer", lambda o: _status(o, "desiredNumberScheduled")),
        ("Current", "integer", lambda o: _status(o, "currentNumberScheduled")),
        ("Ready", "integer", lambda o: _status(o, "numberReady")),
        ("Up-to-date", "integer", lambda o: _status(o, "updatedNumberScheduled")),
        ("Available", "integer", lambda o: _status(o, "numberAvailable")),
    ],
    "Job": [
        ("Status", "string", _job_status),
        (
            "Completions",
            "string",
            lambda o: f"{_status(o, 'succeeded')}/{o['spec'].get('completions', 1)}",
        ),
    ],
    "Service": [
        ("Type", "string", lambda o: o["spec"].get("type", "ClusterIP")),
        ("Cluster-IP", "string", lambda o: o["spec"].get("clusterIP", "<none>")),
        ("External-IP", "string", lambda o: "<none>"),
        ("Port(s)", "string", _ports),
    ],
    "ConfigMap": [("Data", "integer", lambda o: len(o.get("data") or {}))],
    "Secret": [
        ("Type", "string", lambda o: o.get("type", "Opaque")),
        ("Data", "integer", lambda o: len(o.get("data") or {})),
    ],
    "Namespace": [("Status", "string", lambda o: _status(o, "phase", "Active"))],
    "Node": [("Status", "string", lambda o: "Ready"), ("Version", "string", lambda o: "v1.32.0")],
}
_EVENT_COLUMNS: list[Column] = [
    ("Last Seen", "string", lambda o: age(o.get("lastTimestamp") or o.get("eventTime"))),
    ("Type", "string", lambda o: o.get("type", "")),
    ("Reason", "string", lambda o: o.get("reason", "")),
    (
        "Object",
        "string",
        lambda o: "{}/{}".format(
            o.get("involvedObject", {}).get("kind", "").lower(),
            o.get("involvedObject", {}).get("name", ""),
        ),
    ),
    ("Message", "string", lambda o: o.get("message", "")),
]


def _columns(kind: str) -> list[Column]:
    if kind == "Event":
        return _EVENT_COLUMNS
    name: Column = ("Name", "string", lambda o: o["metadata"]["name"])
    created: Column = ("Age", "string", lambda o: age(o["metadata"].get("creationTimestamp")))
    return [name, *_COLUMNS.get(kind, []), created]


def as_table(doc: dict, res: Resource) -> dict:
    """A Table for one object or a list of them."""
    items = doc["items"] if "items" in doc else [doc]
    columns = _columns(res.kind)
    definitions = [
        {
            "name": title,
            "type": kind,
            "format": "name" if title == "Name" else "",
            "description": title,
            "priority": 0,
        }
        for title, kind, _ in columns
    ]
    rows = [
        {
            "cells": [cell(item) for _, _, cell in columns],
            "object": {**item, "apiVersion": res.api_version, "kind": res.kind},
        }
        for item in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": doc.get("metadata", {}).get("resourceVersion", "")},
        "columnDefinitions": definitions,
        "rows": rows,
    }
