"""The simulated disruption controller: PodDisruptionBudget status from the pods it selects.

As in k8s.io/kubernetes pkg/controller/disruption: ``expectedPods`` are the
selected pods, ``desiredHealthy`` comes from ``minAvailable`` (percentages
round up) or ``expectedPods - maxUnavailable``, ``currentHealthy`` counts
ready pods, and ``disruptionsAllowed`` is what is left over.
"""

from __future__ import annotations

from sandbox.kube.api import Api
from sandbox.kube.objects import pod_ready, set_status
from sandbox.kube.resources import by_plural
from sandbox.kube.selectors import matches_label_selector

PDBS = by_plural("policy", "poddisruptionbudgets")


def _scaled(value: object, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * total // 100)
    return int(value or 0)


def desired_healthy(spec: dict, expected: int) -> int:
    if spec.get("minAvailable") is not None:
        return _scaled(spec["minAvailable"], expected)
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - _scaled(spec["maxUnavailable"], expected))
    return expected


def sync_budget(api: Api, pdb: dict, pods: list[dict]) -> None:
    """Write one budget's status from the live pods of its namespace."""
    meta, spec = pdb["metadata"], pdb.get("spec") or {}
    selector = spec.get("selector")
    selected = [
        p
        for p in pods
        if p["metadata"].get("namespace") == meta["namespace"]
        and selector is not None
        and matches_label_selector(selector, p["metadata"].get("labels") or {})
        and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    ]
    expected = len(selected)
    healthy = sum(1 for p in selected if pod_ready(p))
    desired = desired_healthy(spec, expected)
    allowed = max(0, healthy - desired) if expected else 0
    previous = {c.get("type"): c for c in (pdb.get("status") or {}).get("conditions") or []}.get(
        "DisruptionAllowed"
    )
    flag = "True" if allowed > 0 else "False"
    reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
    stamp = (previous or {}).get("lastTransitionTime") or api.now()
    if previous and previous.get("status") != flag:
        stamp = api.now()
    status = {
        "observedGeneration": meta.get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": flag,
                "reason": reason,
                "message": "",
                "observedGeneration": meta.get("generation", 1),
                "lastTransitionTime": stamp,
            }
        ],
    }
    set_status(api, PDBS, meta["namespace"], meta["name"], status)
