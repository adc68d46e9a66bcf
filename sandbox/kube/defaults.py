"""Defaulting the real API server does on write: spec defaults and initial status."""

from __future__ import annotations

import base64
import itertools

_CLUSTER_IPS = itertools.count(10)


def _pod_spec(spec: dict, restart_policy: str = "Always") -> None:
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in spec.get("containers") or []:
        image = container.get("image", "")
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _template(spec: dict, restart_policy: str = "Always") -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    _pod_spec(template.setdefault("spec", {}), restart_policy)


def _deployment(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    _template(spec)


def _replication_controller(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)
    labels = (spec["template"].get("metadata") or {}).get("labels") or {}
    spec.setdefault("selector", dict(labels))


def _statefulset(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    _template(spec)


def _daemonset(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "updateStrategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
    )
    _template(spec)


def _job(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    _template(spec, restart_policy="Never")
    uid = obj["metadata"].get("uid")
    if uid and not spec.get("manualSelector"):
        name = obj["metadata"]["name"]
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        labels = spec["template"]["metadata"].setdefault("labels", {})
        for key, value in (("controller-uid", uid), ("job-name", name)):
            labels.setdefault(key, value)
            labels.setdefault(f"batch.kubernetes.io/{key}", value)


def _service(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None" and spec["type"] != "ExternalName":
        number = next(_CLUSTER_IPS)
        spec.setdefault("clusterIP", f"10.96.{number // 250 % 250}.{number % 250 + 1}")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _secret(obj: dict) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _namespace(obj: dict) -> None:
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def _pod(obj: dict) -> None:
    _pod_spec(obj.setdefault("spec", {}))
    # The ServiceAccount admission plugin's default.
    obj["spec"].setdefault("serviceAccountName", obj["spec"].get("serviceAccount") or "default")
    obj["spec"].setdefault("serviceAccount", obj["spec"]["serviceAccountName"])
    obj["spec"].setdefault("nodeName", "sandbox-node")


def _crd(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})
    for version in spec.get("versions") or []:
        version.setdefault("served", True)
        version.setdefault("storage", False)


def _crd_status(obj: dict) -> dict:
    """A CRD is accepted and established at once (Helm waits for Established)."""
    spec = obj.get("spec") or {}
    stamp = obj["metadata"].get("creationTimestamp")
    return {
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": stamp,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": stamp,
            },
        ],
        "acceptedNames": dict(spec.get("names") or {}),
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
    }


_SPEC_DEFAULTS = {
    "CustomResourceDefinition": _crd,
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "ReplicaSet": lambda o: _template(o.setdefault("spec", {})),
    "ReplicationController": _replication_controller,
    "Job": _job,
    "Service": _service,
    "Secret": _secret,
    "Namespace": _namespace,
    "Pod": _pod,
}

_INITIAL_STATUS = {
    "CustomResourceDefinition": _crd_status,
    "Namespace": lambda o: {"phase": "Active"},
    "Pod": lambda o: {"phase": "Pending", "qosClass": "BestEffort"},
    "Service": lambda o: {"loadBalancer": {}},
    "Deployment": lambda o: {},
    "ReplicaSet": lambda o: {"replicas": 0},
    "ReplicationController": lambda o: {"replicas": 0},
    "StatefulSet": lambda o: {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": lambda o: {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
    "Job": lambda o: {},
    "Node": lambda o: o.get("status") or {},
}


def apply_defaults(obj: dict) -> None:
    """Fill server-side defaults in place (on create and update)."""
    default = _SPEC_DEFAULTS.get(obj.get("kind", ""))
    if default:
        default(obj)


def initial_status(obj: dict) -> dict | None:
    """The status a freshly created object starts with, or None for kinds without one."""
    make = _INITIAL_STATUS.get(obj.get("kind", ""))
    return make(obj) if make else None
