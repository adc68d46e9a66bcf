"""Server-side printing: ``meta.k8s.io/v1`` Tables, which ``kubectl get`` asks for."""

from __future__ import annotations

import re
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


def _containers(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"].get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or {}
    return template.get("containers") or []


def _names(obj: dict) -> str:
    return ",".join(c.get("name", "") for c in _containers(obj)) or "<none>"


def _images(obj: dict) -> str:
    return ",".join(c.get("image", "") for c in _containers(obj)) or "<none>"


def _selector(obj: dict) -> str:
    spec = obj.get("spec") or {}
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"].get("spec") or {}
    selector = spec.get("selector") or {}
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        terms = [f"{k}={v}" for k, v in selector.items() if isinstance(v, str)]
        return ",".join(terms) or "<none>"
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(expr.get("values") or [])
        op = expr.get("operator", "")
        if op == "Exists":
            terms.append(expr.get("key", ""))
        elif op == "DoesNotExist":
            terms.append(f"!{expr.get('key', '')}")
        else:
            terms.append(f"{expr.get('key', '')} {op.lower()} ({values})")
    return ",".join(terms) or "<none>"


def _or_none(value: object) -> object:
    return "<none>" if value in (None, "", []) else value


def _readiness_gates(pod: dict) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    return ",".join(g.get("conditionType", "") for g in gates) or "<none>"


def _subjects(binding: dict, kind: str) -> str:
    found = []
    for subject in binding.get("subjects") or []:
        if subject.get("kind") != kind:
            continue
        name = subject.get("name", "")
        if kind == "ServiceAccount":
            name = f"{subject.get('namespace', '')}:{name}"
        found.append(name)
    return ",".join(found)


def _endpoints(obj: dict) -> str:
    pairs = []
    for subset in obj.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for address in subset.get("addresses") or []:
            pairs += [f"{address['ip']}:{p}" if p else address["ip"] for p in ports]
    if not pairs:
        return "<none>"
    shown = ",".join(pairs[:3])
    return shown + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")


def _slice_ports(obj: dict) -> str:
    return ",".join(str(p.get("port")) for p in obj.get("ports") or []) or "<unset>"


def _slice_endpoints(obj: dict) -> str:
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addresses:
        return "<unset>"
    shown = ",".join(addresses[:3])
    return shown + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


Column = tuple[str, str, Callable[[dict], object]]
# Columns that only ``-o wide`` prints (priority 1 in the API server's Tables).
_WORKLOAD_WIDE: list[Column] = [
    ("Containers", "string", _names),
    ("Images", "string", _images),
    ("Selector", "string", _selector),
]
_WIDE: dict[str, list[Column]] = {
    "Pod": [
        ("IP", "string", lambda o: _or_none(_status(o, "podIP", ""))),
        ("Node", "string", lambda o: _or_none((o.get("spec") or {}).get("nodeName"))),
        ("Nominated Node", "string", lambda o: _or_none(_status(o, "nominatedNodeName", ""))),
        ("Readiness Gates", "string", _readiness_gates),
    ],
    "Deployment": _WORKLOAD_WIDE,
    "ReplicaSet": _WORKLOAD_WIDE,
    "ReplicationController": _WORKLOAD_WIDE,
    "StatefulSet": _WORKLOAD_WIDE[:2],
    "DaemonSet": _WORKLOAD_WIDE,
    "Job": _WORKLOAD_WIDE,
    "CronJob": _WORKLOAD_WIDE,
    "Service": [("Selector", "string", _selector)],
    "Node": [
        ("Internal-IP", "string", lambda o: "10.0.0.10"),
        ("External-IP", "string", lambda o: "<none>"),
        (
            "OS-Image",
            "string",
            lambda o: _status(o, "nodeInfo", {}).get("osImage", "<unknown>"),
        ),
        (
            "Kernel-Version",
            "string",
            lambda o: _status(o, "nodeInfo", {}).get("kernelVersion") or "<unknown>",
        ),
        (
            "Container-Runtime",
            "string",
            lambda o: _status(o, "nodeInfo", {}).get("containerRuntimeVersion", "<unknown>"),
        ),
    ],
    "RoleBinding": [
        ("Users", "string", lambda o: _subjects(o, "User")),
        ("Groups", "string", lambda o: _subjects(o, "Group")),
        ("ServiceAccounts", "string", lambda o: _subjects(o, "ServiceAccount")),
    ],
    "ClusterRoleBinding": [
        ("Users", "string", lambda o: _subjects(o, "User")),
        ("Groups", "string", lambda o: _subjects(o, "Group")),
        ("ServiceAccounts", "string", lambda o: _subjects(o, "ServiceAccount")),
    ],
}
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
    "CronJob": [
        ("Schedule", "string", lambda o: o["spec"].get("schedule", "")),
        ("Timezone", "string", lambda o: o["spec"].get("timeZone") or "<none>"),
        ("Suspend", "boolean", lambda o: bool(o["spec"].get("suspend", False))),
        ("Active", "integer", lambda o: len(_status(o, "active", []) or [])),
        ("Last Schedule", "string", lambda o: age(_status(o, "lastScheduleTime", None))),
    ],
    "PodDisruptionBudget": [
        ("Min Available", "string", lambda o: str(o["spec"].get("minAvailable", "N/A"))),
        ("Max Unavailable", "string", lambda o: str(o["spec"].get("maxUnavailable", "N/A"))),
        ("Allowed Disruptions", "integer", lambda o: _status(o, "disruptionsAllowed")),
    ],
    "ReplicationController": [
        ("Desired", "integer", lambda o: o["spec"].get("replicas", 0)),
        ("Current", "integer", lambda o: _status(o, "replicas")),
        ("Ready", "integer", lambda o: _status(o, "readyReplicas")),
    ],
    "RoleBinding": [
        (
            "Role",
            "string",
            lambda o: f"{o['roleRef'].get('kind', '')}/{o['roleRef'].get('name', '')}",
        )
    ],
    "ClusterRoleBinding": [
        (
            "Role",
            "string",
            lambda o: f"{o['roleRef'].get('kind', '')}/{o['roleRef'].get('name', '')}",
        )
    ],
    "ServiceAccount": [("Secrets", "integer", lambda o: len(o.get("secrets") or []))],
    "Endpoints": [("Endpoints", "string", _endpoints)],
    "EndpointSlice": [
        ("AddressType", "string", lambda o: o.get("addressType", "")),
        ("Ports", "string", _slice_ports),
        ("Endpoints", "string", _slice_endpoints),
    ],
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


def _columns(kind: str) -> list[tuple[Column, int]]:
    """(column, priority): priority 1 columns are the ones ``-o wide`` adds."""
    if kind == "Event":
        return [(c, 0) for c in _EVENT_COLUMNS]
    name: Column = ("Name", "string", lambda o: o["metadata"]["name"])
    created: Column = ("Age", "string", lambda o: age(o["metadata"].get("creationTimestamp")))
    plain = [name, *_COLUMNS.get(kind, []), created]
    return [(c, 0) for c in plain] + [(c, 1) for c in _WIDE.get(kind, [])]


_JSON_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def json_path_value(obj: object, path: str) -> object:
    """A simple JSONPath (``.spec.size``, ``.status.items[0].name``) of an object."""
    node = obj
    for key, index in _JSON_PATH_STEP.findall(path):
        if key and isinstance(node, dict):
            node = node.get(key)
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
    return node


def _printer_column(column: dict) -> tuple[Column, int]:
    path, kind = column.get("jsonPath", ""), column.get("type", "string")

    def cell(obj: dict) -> object:
        value = json_path_value(obj, path)
        if kind == "date":
            return age(value) if isinstance(value, str) else "<unknown>"
        return "<none>" if value is None else value

    table_type = "string" if kind == "date" else kind
    return (column.get("name", path), table_type, cell), int(column.get("priority", 0))


def custom_columns(crd: dict, version: str) -> list[tuple[Column, int]] | None:
    """A CRD version's ``additionalPrinterColumns`` (Name first, Age last by default)."""
    for served in (crd.get("spec") or {}).get("versions") or []:
        if served.get("name") == version and served.get("additionalPrinterColumns"):
            name: Column = ("Name", "string", lambda o: o["metadata"]["name"])
            columns = [(name, 0)] + [_printer_column(c) for c in served["additionalPrinterColumns"]]
            if not any(
                c.get("jsonPath") == ".metadata.creationTimestamp"
                for c in served["additionalPrinterColumns"]
            ):
                created: Column = (
                    "Age",
                    "string",
                    lambda o: age(o["metadata"].get("creationTimestamp")),
                )
                columns.append((created, 0))
            return columns
    return None


def as_table(doc: dict, res: Resource, crd: dict | None = None) -> dict:
    """A Table for one object or a list of them (a custom kind's columns from its CRD)."""
    items = doc["items"] if "items" in doc else [doc]
    columns = (custom_columns(crd, res.version) if crd else None) or _columns(res.kind)
    definitions = [
        {
            "name": title,
            "type": kind,
            "format": "name" if title == "Name" else "",
            "description": title,
            "priority": priority,
        }
        for (title, kind, _), priority in columns
    ]
    rows = [
        {
            "cells": [cell(item) for (_, _, cell), _ in columns],
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
