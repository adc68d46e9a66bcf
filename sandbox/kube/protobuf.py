"""Decode the Kubernetes protobuf request bodies that Helm and kubectl send.

Helm's release storage writes Secrets, and kubectl's imperative ``create``
commands (namespace, deployment, configmap, service, serviceaccount, job,
cronjob, role, rolebinding, pdb, quota, priorityclass, ingress), ``expose``,
``autoscale`` and ``auth can-i`` send their objects, with
``Content-Type: application/vnd.kubernetes.protobuf`` and no fallback to
JSON, so the emulator turns those bodies into the JSON-shaped objects the
rest of it works with. The wire format is: the magic ``k8s\\x00``, then a
``runtime.Unknown`` {typeMeta=1 {apiVersion=1, kind=2}, raw=2,
contentEncoding=3, contentType=4} whose ``raw`` is the typed message, decoded
by the table :data:`SCHEMAS` (field numbers of k8s.io/api and apimachinery
``generated.proto``). A field the table does not know is a 415 that says to
send JSON, never a silently dropped value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from sandbox.kube.errors import ApiError

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class ProtobufError(ApiError, ValueError):
    """The body is not a protobuf object this emulator can read (answered as a Status)."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        if unsupported:
            super().__init__(415, "UnsupportedMediaType", message)
        else:
            super().__init__(400, "BadRequest", f"unable to decode the protobuf body: {message}")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint longer than 64 bits")


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) pairs; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == _BYTES:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError(f"field {number} runs past the end of the message")
            yield number, buf[pos : pos + size]
            pos += size
        elif wire == _FIXED64:
            yield number, int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == _FIXED32:
            yield number, int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire} for field {number}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited string")
    return value.decode("utf-8")


def _raw(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def _int64(value: int | bytes) -> int:
    if isinstance(value, bytes):
        raise ProtobufError("expected a varint")
    return value - (1 << 64) if value >= 1 << 63 else value


def _map_entry(value: int | bytes) -> tuple[str, bytes]:
    key, item = "", b""
    for number, part in _fields(_raw(value)):
        if number == 1:
            key = _text(part)
        elif number == 2:
            item = _raw(part)
    return key, item


_UNSET = object()


def _time(value: int | bytes) -> object:
    """A ``metav1.Time`` {seconds=1, nanos=2}; the zero time means "not set"."""
    seconds = 0
    for number, part in _fields(_raw(value)):
        if number == 1:
            seconds = _int64(part)
    if not seconds:
        return _UNSET
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(value: int | bytes) -> int | str:
    """``intstr.IntOrString`` {type=1 (0 int, 1 string), intVal=2, strVal=3}."""
    kind, number_value, text = 0, 0, ""
    for number, part in _fields(_raw(value)):
        if number == 1:
            kind = _int64(part)
        elif number == 2:
            number_value = _int64(part)
        elif number == 3:
            text = _text(part)
    return text if kind == 1 else number_value


def _quantity(value: int | bytes) -> str:
    """``resource.Quantity`` {string=1}."""
    return "".join(_text(p) for n, p in _fields(_raw(value)) if n == 1)


def _raw_json(value: int | bytes) -> object:
    """``runtime.RawExtension`` / ``FieldsV1`` {raw=1}: JSON bytes."""
    raw = b"".join(_raw(p) for n, p in _fields(_raw(value)) if n == 1)
    return json.loads(raw) if raw else {}


# Message schemas: field number -> (JSON name, type). Field numbers and names follow
# the ``generated.proto`` files of k8s.io/api and k8s.io/apimachinery. Types:
#   string, int, bool        non-pointer Go fields: zero values mean "not set" (omitempty)
#   string*, int*, bool*     pointer fields: sent only when set, so a zero is a value
#   bytes                    base64 in JSON
#   time, intstr, quantity, raw, fieldsV1
#   map, map:bytes, map:quantity    map<string, ...>
#   []T                      repeated (every element kept, "" too)
#   !Message                 an embedded Go struct: its fields are inlined in JSON
#   -                        ignored (status: the API server ignores it on create)
#   Message                  a nested message
Schema = dict[int, tuple[str, str]]
SCHEMAS: dict[str, Schema] = {
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        4: ("selfLink", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "time"),
        9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int*"),
        11: ("labels", "map"),
        12: ("annotations", "map"),
        13: ("ownerReferences", "[]OwnerReference"),
        14: ("finalizers", "[]string"),
        17: ("managedFields", "[]ManagedFieldsEntry"),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool*"),
        7: ("blockOwnerDeletion", "bool*"),
    },
    "ManagedFieldsEntry": {
        1: ("manager", "string"),
        2: ("operation", "string"),
        3: ("apiVersion", "string"),
        4: ("time", "time"),
        6: ("fieldsType", "string"),
        7: ("fieldsV1", "fieldsV1"),
        8: ("subresource", "string"),
    },
    "LabelSelector": {
        1: ("matchLabels", "map"),
        2: ("matchExpressions", "[]LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("values", "[]string"),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int*"),
        2: ("preconditions", "Preconditions"),
        3: ("orphanDependents", "bool*"),
        4: ("propagationPolicy", "string*"),
        5: ("dryRun", "[]string"),
        6: ("ignoreStoreReadErrorWithClusterBreakingPotential", "bool*"),
    },
    "Preconditions": {1: ("uid", "string*"), 2: ("resourceVersion", "string*")},
    # k8s.io/api/core/v1
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "-")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool*"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map:bytes"),
        3: ("type", "string"),
        4: ("stringData", "map"),
        5: ("immutable", "bool*"),
    },
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        2: ("secrets", "[]ObjectReference"),
        3: ("imagePullSecrets", "[]LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool*"),
    },
    "ObjectReference": {
        1: ("kind", "string"),
        2: ("namespace", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("resourceVersion", "string"),
        7: ("fieldPath", "string"),
    },
    "LocalObjectReference": {1: ("name", "string")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec"), 3: ("status", "-")},
    "ServiceSpec": {
        1: ("ports", "[]ServicePort"),
        2: ("selector", "map"),
        3: ("clusterIP", "string"),
        4: ("type", "string"),
        5: ("externalIPs", "[]string"),
        7: ("sessionAffinity", "string"),
        8: ("loadBalancerIP", "string"),
        9: ("loadBalancerSourceRanges", "[]string"),
        10: ("externalName", "string"),
        11: ("externalTrafficPolicy", "string"),
        12: ("healthCheckNodePort", "int"),
        13: ("publishNotReadyAddresses", "bool"),
        14: ("sessionAffinityConfig", "SessionAffinityConfig"),
        17: ("ipFamilyPolicy", "string*"),
        18: ("clusterIPs", "[]string"),
        19: ("ipFamilies", "[]string"),
        20: ("allocateLoadBalancerNodePorts", "bool*"),
        21: ("loadBalancerClass", "string*"),
        22: ("internalTrafficPolicy", "string*"),
        23: ("trafficDistribution", "string*"),
    },
    "SessionAffinityConfig": {1: ("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: ("timeoutSeconds", "int*")},
    "ServicePort": {
        1: ("name", "string"),
        2: ("protocol", "string"),
        3: ("port", "int"),
        4: ("targetPort", "intstr"),
        5: ("nodePort", "int"),
        6: ("appProtocol", "string*"),
    },
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {
        1: ("volumes", "[]Volume"),
        2: ("containers", "[]Container"),
        3: ("restartPolicy", "string"),
        4: ("terminationGracePeriodSeconds", "int*"),
        5: ("activeDeadlineSeconds", "int*"),
        6: ("dnsPolicy", "string"),
        7: ("nodeSelector", "map"),
        8: ("serviceAccountName", "string"),
        9: ("serviceAccount", "string"),
        10: ("nodeName", "string"),
        11: ("hostNetwork", "bool"),
        12: ("hostPID", "bool"),
        13: ("hostIPC", "bool"),
        15: ("imagePullSecrets", "[]LocalObjectReference"),
        16: ("hostname", "string"),
        17: ("subdomain", "string"),
        19: ("schedulerName", "string"),
        20: ("initContainers", "[]Container"),
        21: ("automountServiceAccountToken", "bool*"),
        22: ("tolerations", "[]Toleration"),
        24: ("priorityClassName", "string"),
        25: ("priority", "int*"),
        27: ("shareProcessNamespace", "bool*"),
        29: ("runtimeClassName", "string*"),
        30: ("enableServiceLinks", "bool*"),
        31: ("preemptionPolicy", "string*"),
        35: ("setHostnameAsFQDN", "bool*"),
        37: ("hostUsers", "bool*"),
    },
    "Container": {
        1: ("name", "string"),
        2: ("image", "string"),
        3: ("command", "[]string"),
        4: ("args", "[]string"),
        5: ("workingDir", "string"),
        6: ("ports", "[]ContainerPort"),
        7: ("env", "[]EnvVar"),
        8: ("resources", "ResourceRequirements"),
        9: ("volumeMounts", "[]VolumeMount"),
        10: ("livenessProbe", "Probe"),
        11: ("readinessProbe", "Probe"),
        13: ("terminationMessagePath", "string"),
        14: ("imagePullPolicy", "string"),
        16: ("stdin", "bool"),
        17: ("stdinOnce", "bool"),
        18: ("tty", "bool"),
        19: ("envFrom", "[]EnvFromSource"),
        20: ("terminationMessagePolicy", "string"),
        22: ("startupProbe", "Probe"),
        24: ("restartPolicy", "string*"),
    },
    "ContainerPort": {
        1: ("name", "string"),
        2: ("hostPort", "int"),
        3: ("containerPort", "int"),
        4: ("protocol", "string"),
        5: ("hostIP", "string"),
    },
    "EnvVar": {1: ("name", "string"), 2: ("value", "string"), 3: ("valueFrom", "EnvVarSource")},
    "EnvVarSource": {
        1: ("fieldRef", "ObjectFieldSelector"),
        2: ("resourceFieldRef", "ResourceFieldSelector"),
        3: ("configMapKeyRef", "KeySelector"),
        4: ("secretKeyRef", "KeySelector"),
    },
    "ObjectFieldSelector": {1: ("apiVersion", "string"), 2: ("fieldPath", "string")},
    "ResourceFieldSelector": {
        1: ("containerName", "string"),
        2: ("resource", "string"),
        3: ("divisor", "quantity"),
    },
    "KeySelector": {
        1: ("localObjectReference", "!LocalObjectReference"),
        2: ("key", "string"),
        3: ("optional", "bool*"),
    },
    "EnvFromSource": {
        1: ("prefix", "string"),
        2: ("configMapRef", "EnvSource"),
        3: ("secretRef", "EnvSource"),
    },
    "EnvSource": {
        1: ("localObjectReference", "!LocalObjectReference"),
        2: ("optional", "bool*"),
    },
    "ResourceRequirements": {
        1: ("limits", "map:quantity"),
        2: ("requests", "map:quantity"),
    },
    "VolumeMount": {
        1: ("name", "string"),
        2: ("readOnly", "bool"),
        3: ("mountPath", "string"),
        4: ("subPath", "string"),
        5: ("mountPropagation", "string*"),
        6: ("subPathExpr", "string"),
    },
    "Volume": {1: ("name", "string"), 2: ("volumeSource", "!VolumeSource")},
    "VolumeSource": {
        1: ("hostPath", "HostPathVolumeSource"),
        2: ("emptyDir", "EmptyDirVolumeSource"),
        6: ("secret", "SecretVolumeSource"),
        10: ("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource"),
        19: ("configMap", "ConfigMapVolumeSource"),
    },
    "HostPathVolumeSource": {1: ("path", "string"), 2: ("type", "string*")},
    "EmptyDirVolumeSource": {1: ("medium", "string"), 2: ("sizeLimit", "quantity")},
    "SecretVolumeSource": {
        1: ("secretName", "string"),
        2: ("items", "[]KeyToPath"),
        3: ("defaultMode", "int*"),
        4: ("optional", "bool*"),
    },
    "ConfigMapVolumeSource": {
        1: ("localObjectReference", "!LocalObjectReference"),
        2: ("items", "[]KeyToPath"),
        3: ("defaultMode", "int*"),
        4: ("optional", "bool*"),
    },
    "KeyToPath": {1: ("key", "string"), 2: ("path", "string"), 3: ("mode", "int*")},
    "PersistentVolumeClaimVolumeSource": {1: ("claimName", "string"), 2: ("readOnly", "bool")},
    "Probe": {
        1: ("handler", "!ProbeHandler"),
        2: ("initialDelaySeconds", "int"),
        3: ("timeoutSeconds", "int"),
        4: ("periodSeconds", "int"),
        5: ("successThreshold", "int"),
        6: ("failureThreshold", "int"),
        7: ("terminationGracePeriodSeconds", "int*"),
    },
    "ProbeHandler": {
        1: ("exec", "ExecAction"),
        2: ("httpGet", "HTTPGetAction"),
        3: ("tcpSocket", "TCPSocketAction"),
        4: ("grpc", "GRPCAction"),
    },
    "ExecAction": {1: ("command", "[]string")},
    "HTTPGetAction": {
        1: ("path", "string"),
        2: ("port", "intstr"),
        3: ("host", "string"),
        4: ("scheme", "string"),
        5: ("httpHeaders", "[]HTTPHeader"),
    },
    "HTTPHeader": {1: ("name", "string"), 2: ("value", "string")},
    "TCPSocketAction": {1: ("port", "intstr"), 2: ("host", "string")},
    "GRPCAction": {1: ("port", "int"), 2: ("service", "string*")},
    "Toleration": {
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("value", "string"),
        4: ("effect", "string"),
        5: ("tolerationSeconds", "int*"),
    },
    "ResourceQuota": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "ResourceQuotaSpec"),
        3: ("status", "-"),
    },
    "ResourceQuotaSpec": {1: ("hard", "map:quantity"), 2: ("scopes", "[]string")},
    # k8s.io/api/apps/v1
    "Deployment": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "DeploymentSpec"),
        3: ("status", "-"),
    },
    "DeploymentSpec": {
        1: ("replicas", "int*"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
        4: ("strategy", "DeploymentStrategy"),
        5: ("minReadySeconds", "int"),
        6: ("revisionHistoryLimit", "int*"),
        7: ("paused", "bool"),
        9: ("progressDeadlineSeconds", "int*"),
    },
    "DeploymentStrategy": {
        1: ("type", "string"),
        2: ("rollingUpdate", "RollingUpdateDeployment"),
    },
    "RollingUpdateDeployment": {1: ("maxUnavailable", "intstr"), 2: ("maxSurge", "intstr")},
    # k8s.io/api/batch/v1
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec"), 3: ("status", "-")},
    "JobSpec": {
        1: ("parallelism", "int*"),
        2: ("completions", "int*"),
        3: ("activeDeadlineSeconds", "int*"),
        4: ("selector", "LabelSelector"),
        5: ("manualSelector", "bool*"),
        6: ("template", "PodTemplateSpec"),
        7: ("backoffLimit", "int*"),
        8: ("ttlSecondsAfterFinished", "int*"),
        9: ("completionMode", "string*"),
        10: ("suspend", "bool*"),
        12: ("backoffLimitPerIndex", "int*"),
        13: ("maxFailedIndexes", "int*"),
        14: ("podReplacementPolicy", "string*"),
        16: ("managedBy", "string*"),
    },
    "CronJob": {1: ("metadata", "ObjectMeta"), 2: ("spec", "CronJobSpec"), 3: ("status", "-")},
    "CronJobSpec": {
        1: ("schedule", "string"),
        2: ("startingDeadlineSeconds", "int*"),
        3: ("concurrencyPolicy", "string"),
        4: ("suspend", "bool*"),
        5: ("jobTemplate", "JobTemplateSpec"),
        6: ("successfulJobsHistoryLimit", "int*"),
        7: ("failedJobsHistoryLimit", "int*"),
        8: ("timeZone", "string*"),
    },
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    # k8s.io/api/rbac/v1
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[]PolicyRule")},
    "ClusterRole": {
        1: ("metadata", "ObjectMeta"),
        2: ("rules", "[]PolicyRule"),
        3: ("aggregationRule", "AggregationRule"),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "[]LabelSelector")},
    "PolicyRule": {
        1: ("verbs", "[]string"),
        2: ("apiGroups", "[]string"),
        3: ("resources", "[]string"),
        4: ("resourceNames", "[]string"),
        5: ("nonResourceURLs", "[]string"),
    },
    "RoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "[]Subject"),
        3: ("roleRef", "RoleRef"),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "[]Subject"),
        3: ("roleRef", "RoleRef"),
    },
    "Subject": {
        1: ("kind", "string"),
        2: ("apiGroup", "string"),
        3: ("name", "string"),
        4: ("namespace", "string"),
    },
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    # k8s.io/api/policy/v1
    "PodDisruptionBudget": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "PodDisruptionBudgetSpec"),
        3: ("status", "-"),
    },
    "PodDisruptionBudgetSpec": {
        1: ("minAvailable", "intstr*"),
        2: ("selector", "LabelSelector"),
        3: ("maxUnavailable", "intstr*"),
        4: ("unhealthyPodEvictionPolicy", "string*"),
    },
    # k8s.io/api/scheduling/v1
    "PriorityClass": {
        1: ("metadata", "ObjectMeta"),
        2: ("value", "int"),
        3: ("globalDefault", "bool"),
        4: ("description", "string"),
        5: ("preemptionPolicy", "string*"),
    },
    # k8s.io/api/networking/v1
    "Ingress": {1: ("metadata", "ObjectMeta"), 2: ("spec", "IngressSpec"), 3: ("status", "-")},
    "IngressSpec": {
        1: ("defaultBackend", "IngressBackend"),
        2: ("tls", "[]IngressTLS"),
        3: ("rules", "[]IngressRule"),
        4: ("ingressClassName", "string*"),
    },
    "IngressBackend": {
        3: ("resource", "TypedLocalObjectReference"),
        4: ("service", "IngressServiceBackend"),
    },
    "TypedLocalObjectReference": {
        1: ("apiGroup", "string*"),
        2: ("kind", "string"),
        3: ("name", "string"),
    },
    "IngressServiceBackend": {1: ("name", "string"), 2: ("port", "ServiceBackendPort")},
    "ServiceBackendPort": {1: ("name", "string"), 2: ("number", "int")},
    "IngressTLS": {1: ("hosts", "[]string"), 2: ("secretName", "string")},
    "IngressRule": {1: ("host", "string"), 2: ("ingressRuleValue", "!IngressRuleValue")},
    "IngressRuleValue": {1: ("http", "HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "[]HTTPIngressPath")},
    "HTTPIngressPath": {
        1: ("path", "string"),
        2: ("backend", "IngressBackend"),
        3: ("pathType", "string*"),
    },
    # k8s.io/api/autoscaling/v1 (what kubectl autoscale sends)
    "autoscaling/v1 HorizontalPodAutoscaler": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "HorizontalPodAutoscalerSpecV1"),
        3: ("status", "-"),
    },
    "HorizontalPodAutoscalerSpecV1": {
        1: ("scaleTargetRef", "CrossVersionObjectReference"),
        2: ("minReplicas", "int*"),
        3: ("maxReplicas", "int"),
        4: ("targetCPUUtilizationPercentage", "int*"),
    },
    "CrossVersionObjectReference": {
        1: ("kind", "string"),
        2: ("name", "string"),
        3: ("apiVersion", "string"),
    },
    # k8s.io/api/authorization/v1
    "SelfSubjectAccessReview": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "SelfSubjectAccessReviewSpec"),
        3: ("status", "-"),
    },
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes"),
        2: ("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", "string"),
        2: ("verb", "string"),
        3: ("group", "string"),
        4: ("version", "string"),
        5: ("resource", "string"),
        6: ("subresource", "string"),
        7: ("name", "string"),
    },
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectRulesReview": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "SelfSubjectRulesReviewSpec"),
        3: ("status", "-"),
    },
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string")},
}

_SCALARS: dict[str, Callable[[int | bytes], object]] = {
    "string": _text,
    "int": _int64,
    "bool": lambda v: bool(_int64(v)),
    "bytes": lambda v: base64.b64encode(_raw(v)).decode("ascii"),
    "time": _time,
    "intstr": _int_or_string,
    "quantity": _quantity,
    "raw": _raw_json,
    "fieldsV1": _raw_json,
}
_MAP_VALUES: dict[str, Callable[[bytes], object]] = {
    "map": lambda b: b.decode("utf-8"),
    "map:bytes": lambda b: base64.b64encode(b).decode("ascii"),
    "map:quantity": _quantity,
}


def _value(value: int | bytes, kind: str) -> object:
    base = kind.rstrip("*")
    if base in _SCALARS:
        return _SCALARS[base](value)
    return decode_message(_raw(value), base)


def decode_message(buf: bytes, message: str) -> dict:
    """One protobuf message as its JSON-shaped dict, by :data:`SCHEMAS`."""
    schema = SCHEMAS[message]
    out: dict = {}
    for number, value in _fields(buf):
        spec = schema.get(number)
        if spec is None:
            raise ProtobufError(
                f"field {number} of {message} is not one the sandbox decodes from protobuf; "
                "send this object as JSON",
                unsupported=True,
            )
        key, kind = spec
        if kind == "-":
            out[key] = {}
        elif kind in _MAP_VALUES:
            entry_key, item = _map_entry(value)
            out.setdefault(key, {})[entry_key] = _MAP_VALUES[kind](item)
        elif kind.startswith("[]"):
            out.setdefault(key, []).append(_value(value, kind[2:]))
        elif kind.startswith("!"):
            out.update(decode_message(_raw(value), kind[1:]))
        else:
            decoded = _value(value, kind)
            pointer = kind.endswith("*")
            if decoded is _UNSET or (
                not pointer and not isinstance(decoded, dict) and decoded in ("", 0, False)
            ):
                continue
            out[key] = decoded
    return out


# Top-level kinds the sandbox decodes (the message of each has the kind's name).
KINDS = (
    "Secret",
    "ConfigMap",
    "Namespace",
    "Service",
    "ServiceAccount",
    "ResourceQuota",
    "Deployment",
    "Job",
    "CronJob",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "PodDisruptionBudget",
    "PriorityClass",
    "Ingress",
    "autoscaling/v1 HorizontalPodAutoscaler",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "DeleteOptions",
)


def is_protobuf(content_type: str | None) -> bool:
    """Whether a request's Content-Type announces a Kubernetes protobuf body."""
    return (content_type or "").split(";")[0].strip().lower() == CONTENT_TYPE


def decode(body: bytes) -> dict:
    """Turn a ``k8s\\x00``-framed protobuf body into its JSON-shaped object.

    Raises:
        ProtobufError: not a Kubernetes protobuf envelope, malformed, or a
            kind this emulator does not decode (the message says to send JSON).
    """
    if not body.startswith(MAGIC):
        raise ProtobufError("protobuf body does not start with the k8s\\x00 magic")
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, value in _fields(body[len(MAGIC) :]):
        if number == 1:
            for part_number, part in _fields(_raw(value)):
                if part_number == 1:
                    api_version = _text(part)
                elif part_number == 2:
                    kind = _text(part)
        elif number == 2:
            raw = _raw(value)
        elif number == 3:
            encoding = _text(value)
    if encoding:
        raise ProtobufError(
            f"protobuf content encoding {encoding!r} is not supported", unsupported=True
        )
    message = f"{api_version} {kind}" if f"{api_version} {kind}" in SCHEMAS else kind
    if message not in KINDS:
        raise ProtobufError(
            f"the sandbox decodes protobuf only for {', '.join(sorted(KINDS))}; "
            f"send {kind or 'this object'} ({api_version or 'unknown version'}) as JSON",
            unsupported=True,
        )
    body = decode_message(raw, message)
    if kind == "DeleteOptions":
        return {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", **body}
    obj: dict = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    obj.update(body)
    return obj
