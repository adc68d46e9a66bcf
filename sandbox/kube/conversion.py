"""Conversion between the versions of a kind served from one storage.

Only HorizontalPodAutoscaler has two served versions: objects are stored in
the ``autoscaling/v2`` shape, and ``autoscaling/v1`` reads and writes convert
``targetCPUUtilizationPercentage`` <-> a CPU ``Resource`` metric with an
``Utilization`` target, as the API server's conversion does. Other v2 metrics
and ``behavior`` have no v1 field and are not shown through v1.
"""

from __future__ import annotations

import copy

from sandbox.kube.resources import Resource


def _is_v1_hpa(res: Resource) -> bool:
    return (res.group, res.version, res.kind) == ("autoscaling", "v1", "HorizontalPodAutoscaler")


def to_storage(res: Resource, obj: dict) -> dict:
    """An object written through ``res`` in the stored version's shape."""
    if not _is_v1_hpa(res) or not isinstance(obj, dict):
        return obj
    obj = copy.deepcopy(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict) and "targetCPUUtilizationPercentage" in spec:
        target = spec.pop("targetCPUUtilizationPercentage")
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ]
    status = obj.get("status")
    if isinstance(status, dict) and "currentCPUUtilizationPercentage" in status:
        current = status.pop("currentCPUUtilizationPercentage")
        status["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": current}},
            }
        ]
    return obj


def _cpu_utilization(metrics: list, part: str) -> int | None:
    for metric in metrics or []:
        resource = metric.get("resource") or {} if isinstance(metric, dict) else {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            value = (resource.get(part) or {}).get("averageUtilization")
            if value is not None:
                return value
    return None


def to_version(res: Resource, obj: dict) -> dict:
    """A stored object in the shape of the version ``res`` serves."""
    if not _is_v1_hpa(res) or not isinstance(obj, dict):
        return obj
    obj = copy.deepcopy(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        target = _cpu_utilization(spec.pop("metrics", None), "target")
        spec.pop("behavior", None)
        if target is not None:
            spec["targetCPUUtilizationPercentage"] = target
    status = obj.get("status")
    if isinstance(status, dict):
        current = _cpu_utilization(status.pop("currentMetrics", None), "current")
        status.pop("conditions", None)
        if current is not None:
            status["currentCPUUtilizationPercentage"] = current
    return obj
