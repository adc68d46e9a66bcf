"""The resource table: which kinds the sandbox serves, and its discovery documents."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    """One served resource type, e.g. ``apps/v1 deployments``."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    has_status: bool = False

    @property
    def key(self) -> str:
        """Storage key: ``apps/deployments``, ``core/pods``."""
        return f"{self.group or 'core'}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular(self) -> str:
        return self.kind.lower()


_WORKLOAD = ("status", "scale")
RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",), True),
    Resource("", "v1", "nodes", "Node", False, ("no",), ("status",), True),
    Resource("", "v1", "pods", "Pod", True, ("po",), ("status", "log"), True),
    Resource("", "v1", "services", "Service", True, ("svc",), ("status",), True),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",)),
    Resource("", "v1", "events", "Event", True, ("ev",)),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), _WORKLOAD, True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), _WORKLOAD, True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), _WORKLOAD, True),
    Resource("batch", "v1", "jobs", "Job", True, (), ("status",), True),
    Resource("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("status",), True),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), ("status",), True),
    Resource(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
        ("status",),
        True,
    ),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at ``/apis/<group>/<version>/<plural>``, if any."""
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    """The resource for an object's ``apiVersion`` and ``kind``, if served."""
    return _BY_KIND.get((api_version, kind))


def by_plural(group: str, plural: str) -> Resource:
    """The resource with this group and plural (any version); KeyError if unknown."""
    for res in RESOURCES:
        if res.group == group and res.plural == plural:
            return res
    raise KeyError(f"{group}/{plural}")


def group_versions() -> dict[str, list[str]]:
    """Served API groups (``""`` is core) and their versions."""
    groups: dict[str, list[str]] = {}
    for res in RESOURCES:
        versions = groups.setdefault(res.group, [])
        if res.version not in versions:
            versions.append(res.version)
    return groups


def api_versions(server_address: str) -> dict:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict:
    """``GET /apis``."""
    groups = [_group_doc(g, v) for g, v in group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict | None:
    """``GET /apis/<group>``, or None if the group is not served."""
    versions = group_versions().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def api_resource_list(group: str, version: str) -> dict | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>``, or None if not served."""
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    entries = []
    for res in served:
        entry = {
            "name": res.plural,
            "singularName": res.singular,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": ALL_VERBS,
        }
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if res.kind in (
            "Pod",
            "Service",
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "Job",
            "CronJob",
            "HorizontalPodAutoscaler",
        ):
            entry["categories"] = ["all"]
        entries.append(entry)
        for sub in res.subresources:
            sub_entry = {
                "name": f"{res.plural}/{sub}",
                "singularName": "",
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": ["get", "patch", "update"],
            }
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1", kind="Scale")
            if sub == "log":
                sub_entry.update(kind="Pod", verbs=["get"])
            entries.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }
