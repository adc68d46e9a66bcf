"""OpenAPI schemas of the served kinds, generated from the ``kubernetes`` client's models,
and validating objects against them (built-in kinds, and custom resources against
their CRD's ``openAPIV3Schema``).

Each model class of the official Python client (``V1Deployment``...) carries the
API's own field list: ``openapi_types`` (Python type names), ``attribute_map``
(JSON names) and, as pydantic fields, descriptions and which fields are required.
Walking them from every served kind gives OpenAPI ``components.schemas`` with
``x-kubernetes-group-version-kind`` on the top-level kinds, which is what
``kubectl explain`` reads. The client's types lose two API types: IntOrString
and Quantity (``object`` / ``str`` there); the fields that hold them are listed
below so that ``targetPort: 8080`` and ``cpu: 1`` stay valid.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections import deque
from collections.abc import Iterator
from typing import Any

from kubernetes.client import models

from sandbox.kube.resources import RESOURCES, Resource

REF_PREFIX = "#/components/schemas/"
_CLASS = re.compile(
    r"^(?P<prefix>(?:[A-Z][a-z]+)*?)V(?P<version>\d+(?:alpha\d+|beta\d+)?)(?P<kind>[A-Z]\w*)$"
)
_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")
_META_TYPES = {
    "ObjectMeta",
    "ListMeta",
    "LabelSelector",
    "LabelSelectorRequirement",
    "OwnerReference",
    "ManagedFieldsEntry",
    "Condition",
    "Status",
    "StatusDetails",
    "StatusCause",
    "DeleteOptions",
    "Preconditions",
}
_PACKAGES = {
    "": "io.k8s.api.core",
    "apps": "io.k8s.api.apps",
    "batch": "io.k8s.api.batch",
    "networking.k8s.io": "io.k8s.api.networking",
    "discovery.k8s.io": "io.k8s.api.discovery",
    "policy": "io.k8s.api.policy",
    "autoscaling": "io.k8s.api.autoscaling",
    "rbac.authorization.k8s.io": "io.k8s.api.rbac",
    "authorization.k8s.io": "io.k8s.api.authorization",
    "scheduling.k8s.io": "io.k8s.api.scheduling",
    "storage.k8s.io": "io.k8s.api.storage",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
}
_PRIMITIVES = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytearray": {"type": "string", "format": "byte"},
    "object": {"x-kubernetes-preserve-unknown-fields": True},
}
INT_OR_STRING = {"x-kubernetes-int-or-string": True}
# (model class, JSON field) holding an IntOrString or a Quantity (a map of them for maps).
_INT_OR_STRING_FIELDS = {
    ("V1ServicePort", "targetPort"),
    ("V1HTTPGetAction", "port"),
    ("V1TCPSocketAction", "port"),
    ("V1RollingUpdateDeployment", "maxSurge"),
    ("V1RollingUpdateDeployment", "maxUnavailable"),
    ("V1RollingUpdateDaemonSet", "maxSurge"),
    ("V1RollingUpdateDaemonSet", "maxUnavailable"),
    ("V1RollingUpdateStatefulSetStrategy", "maxUnavailable"),
    ("V1PodDisruptionBudgetSpec", "minAvailable"),
    ("V1PodDisruptionBudgetSpec", "maxUnavailable"),
    ("V1NetworkPolicyPort", "port"),
    ("V1ResourceRequirements", "limits"),
    ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"),
    ("V1VolumeResourceRequirements", "requests"),
    ("V1EmptyDirVolumeSource", "sizeLimit"),
    ("V1ResourceFieldSelector", "divisor"),
    ("V1ResourceQuotaSpec", "hard"),
    ("V1ResourceQuotaStatus", "hard"),
    ("V1ResourceQuotaStatus", "used"),
    ("V1LimitRangeItem", "default"),
    ("V1LimitRangeItem", "defaultRequest"),
    ("V1LimitRangeItem", "max"),
    ("V1LimitRangeItem", "min"),
    ("V1LimitRangeItem", "maxLimitRequestRatio"),
    ("V1NodeStatus", "allocatable"),
    ("V1NodeStatus", "capacity"),
    ("V1PersistentVolumeSpec", "capacity"),
    ("V1PersistentVolumeClaimStatus", "capacity"),
    ("V1PersistentVolumeClaimStatus", "allocatedResources"),
    ("V1PodSpec", "overhead"),
    ("V1ContainerStatus", "allocatedResources"),
}


def _description(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.split("\n\n")[0].strip() if not doc.startswith("NOTE") else ""


def model_class(res: Resource) -> type | None:
    """The client's model class for a served kind (``V1Deployment``, ``CoreV1Event``)."""
    version = "V" + res.version[1:]
    group_prefix = (res.group.split(".")[0] or "core").capitalize()
    for name in (f"{version}{res.kind}", f"{group_prefix}{version}{res.kind}"):
        cls = getattr(models, name, None)
        if cls is not None and hasattr(cls, "openapi_types"):
            return cls
    return None


@functools.cache
def _generated() -> tuple[dict[str, dict], dict[tuple[str, str, str], str]]:
    """(definition name -> schema, (group, version, kind) -> definition name)."""
    names: dict[str, str] = {}
    queue: deque[tuple[type, str]] = deque()

    def name_of(cls: type, group: str) -> str:
        if cls.__name__ not in names:
            match = _CLASS.match(cls.__name__)
            version, kind = (match["version"], match["kind"]) if match else ("v1", cls.__name__)
            if kind in _META_TYPES:
                package = "io.k8s.apimachinery.pkg.apis.meta"
            else:
                package = _PACKAGES.get(group, "io.k8s.api.core")
            names[cls.__name__] = f"{package}.v{version}.{kind}"
            queue.append((cls, group))
        return names[cls.__name__]

    kinds: dict[tuple[str, str, str], str] = {}
    for res in RESOURCES:
        cls = model_class(res)
        if cls is not None:
            kinds[(res.group, res.version, res.kind)] = name_of(cls, res.group)
    definitions: dict[str, dict] = {}
    while queue:
        cls, group = queue.popleft()
        definitions[names[cls.__name__]] = _model_schema(
            cls, lambda c, group=group: name_of(c, group)
        )
    for (group, version, kind), name in kinds.items():
        definitions[name]["x-kubernetes-group-version-kind"] = [
            {"group": group, "kind": kind, "version": version}
        ]
    return definitions, kinds


def _model_schema(cls: type, name_of) -> dict:  # noqa: ANN001
    properties: dict[str, dict] = {}
    required: list[str] = []
    fields = getattr(cls, "model_fields", {})
    for attr, type_name in cls.openapi_types.items():
        json_name = cls.attribute_map[attr]
        info = fields.get(attr)
        special = (cls.__name__, json_name) in _INT_OR_STRING_FIELDS
        schema = _type_schema(type_name, name_of, special)
        description = getattr(info, "description", None) or ""
        if description:
            if "$ref" in schema:
                schema = {"allOf": [schema]}
            schema = {"description": description, **schema}
        properties[json_name] = schema
        if info is not None and info.is_required():
            required.append(json_name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    description = _description(cls)
    if description:
        schema = {"description": description, **schema}
    if required:
        schema["required"] = required
    return schema


def _type_schema(type_name: str, name_of, int_or_string: bool = False) -> dict:  # noqa: ANN001
    if match := _LIST.match(type_name):
        return {"type": "array", "items": _type_schema(match[1], name_of, int_or_string)}
    if match := _DICT.match(type_name):
        return {
            "type": "object",
            "additionalProperties": _type_schema(match[1], name_of, int_or_string),
        }
    if int_or_string and type_name in ("str", "object"):
        return dict(INT_OR_STRING)
    if type_name in _PRIMITIVES:
        return dict(_PRIMITIVES[type_name])
    cls = getattr(models, type_name, None)
    if cls is None or not hasattr(cls, "openapi_types"):
        return {}
    return {"$ref": REF_PREFIX + name_of(cls)}


def definitions() -> dict[str, dict]:
    """Every generated schema, by definition name (``io.k8s.api.apps.v1.Deployment``)."""
    return _generated()[0]


def kind_schema_name(group: str, version: str, kind: str) -> str | None:
    return _generated()[1].get((group, version, kind))


def group_version_schemas(group: str, version: str) -> dict[str, dict]:
    """The schemas an OpenAPI v3 document for one group/version carries: its kinds and
    everything they reference."""
    defs, kinds = _generated()
    roots = [name for (g, v, _), name in kinds.items() if (g, v) == (group, version)]
    wanted: dict[str, dict] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in wanted or name not in defs:
            continue
        wanted[name] = defs[name]
        pending += list(_refs(defs[name]))
    return dict(sorted(wanted.items()))


def _refs(schema: object) -> Iterator[str]:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref[len(REF_PREFIX) :]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def as_swagger_v2(schema: object) -> object:
    """A v3 schema fragment with its ``$ref`` s pointing at ``#/definitions/``."""
    text = json.dumps(schema).replace(f'"{REF_PREFIX}', '"#/definitions/')
    return json.loads(text)


# --- validation ---------------------------------------------------------------------

_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
}


def _json_type(value: object) -> str:
    return _TYPE_NAMES.get(type(value), "null")


def _resolve(schema: dict, defs: dict[str, dict]) -> dict:
    while True:
        if "$ref" in schema:
            schema = defs.get(schema["$ref"][len(REF_PREFIX) :], {})
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def _type_ok(value: object, wanted: str) -> bool:
    actual = _json_type(value)
    if wanted == "number":
        return actual in ("integer", "number")
    if wanted == "integer" and isinstance(value, float):
        return value.is_integer()
    return actual == wanted


def _quoted(value: object) -> str:
    return json.dumps(value) if not isinstance(value, dict | list) else _json_type(value)


def schema_errors(
    value: object, schema: dict, defs: dict[str, dict] | None = None, path: str = ""
) -> list[tuple[str, str]]:
    """(field path, message) for each value whose type the schema does not allow,
    in the API server's words (``spec.replicas in body must be of type integer``)."""
    defs = definitions() if defs is None else defs
    schema = _resolve(schema, defs)
    if value is None:
        return []
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [(path, _type_message(path, value, "integer or string"))]
        return []
    wanted = schema.get("type")
    if wanted and not _type_ok(value, wanted):
        return [(path, _type_message(path, value, wanted))]
    errors: list[tuple[str, str]] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if key in properties:
                errors += schema_errors(item, properties[key], defs, child)
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, defs, child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], defs, f"{path}[{index}]")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(
            (path, f"{path}: Unsupported value: {_quoted(value)}: supported values: {allowed}")
        )
    return errors


def _type_message(path: str, value: object, wanted: str) -> str:
    return (
        f"{path}: Invalid value: {json.dumps(_json_type(value))}: "
        f"{path} in body must be of type {wanted}: {_quoted(value)}"
    )


def object_schema(res: Resource, crd: dict | None = None) -> tuple[dict, dict] | None:
    """(schema, definitions) to validate an object of ``res`` against, if there is one."""
    if res.custom:
        for version in ((crd or {}).get("spec") or {}).get("versions") or []:
            if version.get("name") == res.version:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if isinstance(schema, dict):
                    schema = copy.deepcopy(schema)
                    properties = schema.setdefault("properties", {})
                    # apiVersion, kind and metadata are never pruned from custom objects.
                    properties["metadata"] = {"x-kubernetes-preserve-unknown-fields": True}
                    properties.setdefault("apiVersion", {"type": "string"})
                    properties.setdefault("kind", {"type": "string"})
                    return schema, {}
        return None
    name = kind_schema_name(res.group, res.version, res.kind)
    if name is None:
        return None
    return {"$ref": REF_PREFIX + name}, definitions()


def prune_unknown(
    value: object, schema: dict, defs: dict[str, dict] | None = None, path: str = ""
) -> list[str]:
    """Drop the fields the schema does not declare, in place, as decoding into the API
    types does; returns their paths (``spec.foo``, ``spec.containers[0].bar``).
    ``x-kubernetes-preserve-unknown-fields`` subtrees and free-form maps are kept."""
    defs = definitions() if defs is None else defs
    schema = _resolve(schema, defs)
    if schema.get("x-kubernetes-preserve-unknown-fields") or value is None:
        return []
    dropped: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in list(value):
            child = f"{path}.{key}" if path else key
            if properties is not None and key in properties:
                dropped += prune_unknown(value[key], properties[key], defs, child)
            elif isinstance(extra, dict):
                dropped += prune_unknown(value[key], extra, defs, child)
            elif properties is not None and extra is not True:
                del value[key]
                dropped.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            dropped += prune_unknown(item, schema["items"], defs, f"{path}[{index}]")
    return dropped
