"""The resource table: which kinds the sandbox serves, and its discovery documents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


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
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    list_kind_name: str = ""
    singular_name: str = ""
    custom: bool = False

    @property
    def key(self) -> str:
        """Storage key: ``apps/deployments``, ``core/pods``."""
        return f"{self.group or 'core'}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.list_kind_name or f"{self.kind}List"

    @property
    def singular(self) -> str:
        return self.singular_name or self.kind.lower()

    @property
    def stored(self) -> bool:
        """Create-only review kinds (SelfSubjectAccessReview...) are answered, not stored."""
        return "get" in self.verbs


_WORKLOAD = ("status", "scale")
_RBAC = "rbac.authorization.k8s.io"
_AUTHZ = "authorization.k8s.io"
CRD_GROUP = "apiextensions.k8s.io"
RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",), True),
    Resource("", "v1", "nodes", "Node", False, ("no",), ("status",), True),
    Resource("", "v1", "pods", "Pod", True, ("po",), ("status", "log"), True),
    Resource("", "v1", "services", "Service", True, ("svc",), ("status",), True),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",)),
    Resource("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), ("status",), True),
    Resource("", "v1", "events", "Event", True, ("ev",)),
    Resource("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    Resource(
        "", "v1", "replicationcontrollers", "ReplicationController", True, ("rc",), _WORKLOAD, True
    ),
    Resource("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), ("status",), True),
    Resource("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    Resource("", "v1", "podtemplates", "PodTemplate", True),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), _WORKLOAD, True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), _WORKLOAD, True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), _WORKLOAD, True),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    Resource("batch", "v1", "jobs", "Job", True, (), ("status",), True),
    Resource("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("status",), True),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), ("status",), True),
    Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    Resource(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        True,
        ("pdb",),
        ("status",),
        True,
    ),
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
    Resource(
        "autoscaling",
        "v1",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
        ("status",),
        True,
    ),
    Resource(_RBAC, "v1", "roles", "Role", True),
    Resource(_RBAC, "v1", "rolebindings", "RoleBinding", True),
    Resource(_RBAC, "v1", "clusterroles", "ClusterRole", False),
    Resource(_RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource(
        _AUTHZ,
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=("create",),
    ),
    Resource(
        _AUTHZ, "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, verbs=("create",)
    ),
    Resource(_AUTHZ, "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",)),
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    Resource(
        CRD_GROUP,
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("status",),
        True,
    ),
)
_CATEGORY_ALL = {
    "Pod",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
}


def custom_resources(crd: dict) -> list[Resource]:
    """The resources one CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        subs = tuple(s for s in ("status", "scale") if s in subresources)
        served.append(
            Resource(
                spec.get("group", ""),
                version.get("name", "v1"),
                names.get("plural", ""),
                names.get("kind", ""),
                spec.get("scope", "Namespaced") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                subs,
                "status" in subs,
                categories=tuple(names.get("categories") or ()),
                list_kind_name=names.get("listKind") or "",
                singular_name=names.get("singular") or "",
                custom=True,
            )
        )
    # The storage version first: it is the preferred one in discovery.
    storage = {v.get("name") for v in spec.get("versions") or [] if v.get("storage")}
    served.sort(key=lambda r: r.version not in storage)
    return served


def lookup(
    group: str, version: str, plural: str, extra: Sequence[Resource] = ()
) -> Resource | None:
    """The resource served at ``/apis/<group>/<version>/<plural>``, if any."""
    found = _BY_PATH.get((group, version, plural))
    if found is None:
        found = next(
            (r for r in extra if (r.group, r.version, r.plural) == (group, version, plural)), None
        )
    return found


def by_kind(api_version: str, kind: str, extra: Sequence[Resource] = ()) -> Resource | None:
    """The resource for an object's ``apiVersion`` and ``kind``, if served."""
    found = _BY_KIND.get((api_version, kind))
    if found is None:
        found = next((r for r in extra if (r.api_version, r.kind) == (api_version, kind)), None)
    return found


def by_plural(group: str, plural: str) -> Resource:
    """The built-in resource with this group and plural (preferred version); KeyError if none."""
    for res in RESOURCES:
        if res.group == group and res.plural == plural:
            return res
    raise KeyError(f"{group}/{plural}")


def storage_resources(extra: Sequence[Resource] = ()) -> list[Resource]:
    """One resource per storage key (the preferred version), built-in and custom."""
    seen: dict[str, Resource] = {}
    for res in (*RESOURCES, *extra):
        seen.setdefault(res.key, res)
    return list(seen.values())


def group_versions(extra: Sequence[Resource] = ()) -> dict[str, list[str]]:
    """Served API groups (``""`` is core) and their versions, preferred first."""
    groups: dict[str, list[str]] = {}
    for res in (*RESOURCES, *extra):
        versions = groups.setdefault(res.group, [])
        if res.version not in versions:
            versions.append(res.version)
    return groups


_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND: dict[tuple[str, str], Resource] = {}
for _res in RESOURCES:
    _BY_KIND.setdefault((_res.api_version, _res.kind), _res)


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


def api_group_list(extra: Sequence[Resource] = ()) -> dict:
    """``GET /apis``."""
    groups = [_group_doc(g, v) for g, v in group_versions(extra).items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, extra: Sequence[Resource] = ()) -> dict | None:
    """``GET /apis/<group>``, or None if the group is not served."""
    versions = group_versions(extra).get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def api_resource_list(group: str, version: str, extra: Sequence[Resource] = ()) -> dict | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>``, or None if not served."""
    served = [r for r in (*RESOURCES, *extra) if r.group == group and r.version == version]
    if not served:
        return None
    entries = []
    for res in served:
        entry = {
            "name": res.plural,
            "singularName": res.singular,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": list(res.verbs),
        }
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        categories = list(res.categories) or (["all"] if res.kind in _CATEGORY_ALL else [])
        if categories:
            entry["categories"] = categories
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
