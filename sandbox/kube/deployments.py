"""The simulated Deployment and ReplicaSet controllers."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from sandbox.kube.api import now, random_suffix
from sandbox.kube.events import record_event
from sandbox.kube.objects import (
    owner_reference,
    pod_ready,
    set_annotations,
    set_status,
    template_hash,
)
from sandbox.kube.resources import by_plural
from sandbox.kube.workload import WorkloadController

DEPLOYMENTS = by_plural("apps", "deployments")
REPLICASETS = by_plural("apps", "replicasets")
REVISION = "deployment.kubernetes.io/revision"


def _condition(old: list[dict], ctype: str, status: str, reason: str, message: str) -> dict:
    """A condition that keeps its timestamps while nothing about it changes."""
    previous = next((c for c in old if c.get("type") == ctype), None)
    stamp = now()
    cond = {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }
    if previous:
        if previous.get("status") == status:
            cond["lastTransitionTime"] = previous.get("lastTransitionTime", stamp)
        if (previous.get("status"), previous.get("reason"), previous.get("message")) == (
            status,
            reason,
            message,
        ):
            cond["lastUpdateTime"] = previous.get("lastUpdateTime", stamp)
    return cond


def _seconds_since(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - then).total_seconds()


def _percent(value: object, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return int(-(-exact // 1)) if round_up else int(exact)
    return int(value or 0)


class DeploymentController(WorkloadController):
    """Deployments roll out through ReplicaSets; ReplicaSets keep their pod count."""

    def replicaset(self, rs: dict, pods: list[dict]) -> None:
        """Keep ``spec.replicas`` pods; surplus goes not-ready first, newest first."""
        meta = rs["metadata"]
        want = int(rs["spec"].get("replicas", 1))
        live = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")]
        if len(live) < want:
            names = [f"{meta['name']}-{random_suffix()}" for _ in range(want - len(live))]
            template = rs["spec"].get("template") or {}
            self.create_pods(
                REPLICASETS,
                rs,
                template,
                names,
                (template.get("metadata") or {}).get("labels") or {},
            )
        elif len(live) > want:
            live.sort(key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"]))
            surplus = live[: len(live) - want]
            self.delete_pods(surplus)
            live = live[len(surplus) :]
        ready = sum(1 for p in live if pod_ready(p))
        status = {
            "replicas": len(live),
            "fullyLabeledReplicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": meta.get("generation", 1),
        }
        set_status(self.api, REPLICASETS, meta["namespace"], meta["name"], status)

    # --- deployments -----------------------------------------------------------------

    def deployment(self, deploy: dict, replicasets: list[dict], pods_by_rs: dict) -> None:
        meta, spec = deploy["metadata"], deploy["spec"]
        ns, desired = meta["namespace"], int(spec.get("replicas", 1))
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = template_hash(template)
        new_rs = next(
            (
                rs
                for rs in replicasets
                if rs["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash
            ),
            None,
        )
        old = [rs for rs in replicasets if rs is not new_rs]
        revisions = [
            int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in replicasets
        ]
        top = max(revisions, default=0)
        if new_rs is None:
            new_rs = self._new_replicaset(deploy, template, pod_hash, desired, top + 1)
            record_event(
                self.api,
                DEPLOYMENTS,
                deploy,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {new_rs['metadata']['name']} from 0 to {desired}",
                "deployment-controller",
            )
            revision = top + 1
        else:
            revision = int(new_rs["metadata"].get("annotations", {}).get(REVISION, "0"))
            if revision < top:
                revision = top + 1
                set_annotations(
                    self.api, REPLICASETS, ns, new_rs["metadata"]["name"], {REVISION: str(revision)}
                )
        set_annotations(self.api, DEPLOYMENTS, ns, meta["name"], {REVISION: str(revision)})
        new_pods = pods_by_rs.get(new_rs["metadata"]["uid"], [])
        new_ready = sum(1 for p in new_pods if pod_ready(p))
        recreate = spec.get("strategy", {}).get("type") == "Recreate"
        self._scale(new_rs, desired)
        keep_old = 0 if recreate else max(0, desired - new_ready)
        for rs in sorted(old, key=lambda r: r["metadata"]["creationTimestamp"], reverse=True):
            current = int(rs["spec"].get("replicas", 0))
            target = min(current, keep_old)
            keep_old -= target
            if target != current:
                self._scale(rs, target)
                record_event(
                    self.api,
                    DEPLOYMENTS,
                    deploy,
                    "Normal",
                    "ScalingReplicaSet",
                    f"Scaled down replica set {rs['metadata']['name']} from {current} to {target}",
                    "deployment-controller",
                )
        self._deployment_status(deploy, new_rs, old, pods_by_rs, desired)

    def _new_replicaset(
        self, deploy: dict, template: dict, pod_hash: str, replicas: int, revision: int
    ) -> dict:
        meta = deploy["metadata"]
        template.setdefault("metadata", {})
        labels = {**(template["metadata"].get("labels") or {}), "pod-template-hash": pod_hash}
        template["metadata"]["labels"] = labels
        selector = copy.deepcopy(deploy["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "labels": labels,
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                },
                "ownerReferences": [owner_reference(DEPLOYMENTS, deploy)],
            },
            "spec": {
                "replicas": replicas,
                "selector": selector,
                "template": template,
                "minReadySeconds": deploy["spec"].get("minReadySeconds", 0),
            },
        }
        return self.api.create(REPLICASETS, meta["namespace"], body)

    def _scale(self, rs: dict, replicas: int) -> None:
        if int(rs["spec"].get("replicas", 0)) == replicas:
            return
        with self.api.store.lock:
            current = self.api.store.get(
                REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"]
            )
            if current is not None:
                current["spec"]["replicas"] = replicas
                self.api.store.put(REPLICASETS, current)

    def _deployment_status(
        self, deploy: dict, new_rs: dict, old: list[dict], pods_by_rs: dict, desired: int
    ) -> None:
        meta, spec = deploy["metadata"], deploy["spec"]

        def live(rs: dict) -> list[dict]:
            return [
                p
                for p in pods_by_rs.get(rs["metadata"]["uid"], [])
                if p["status"].get("phase") not in ("Succeeded", "Failed")
            ]

        all_pods = live(new_rs) + [p for rs in old for p in live(rs)]
        updated = len(live(new_rs))
        ready = sum(1 for p in all_pods if pod_ready(p))
        new_available = sum(1 for p in live(new_rs) if pod_ready(p))
        max_unavailable = _percent(
            (spec.get("strategy", {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%"),
            desired,
            round_up=False,
        )
        previous = deploy.get("status", {}).get("conditions") or []
        rs_name = new_rs["metadata"]["name"]
        if ready >= desired - max_unavailable:
            available = _condition(
                previous,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            available = _condition(
                previous,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        complete = updated == desired and len(all_pods) == desired and new_available >= desired
        progressing_since = next(
            (c.get("lastUpdateTime") for c in previous if c.get("type") == "Progressing"), None
        )
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            progressing = _condition(
                previous,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif progressing_since and _seconds_since(progressing_since) > deadline:
            progressing = _condition(
                previous,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = _condition(
                previous,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
            )
        if any(c.get("reason") == "ProgressDeadlineExceeded" for c in previous) and not complete:
            progressing = next(c for c in previous if c.get("type") == "Progressing")
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(all_pods),
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, desired - ready),
            "conditions": [available, progressing],
        }
        for key in (
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ):
            if not status[key] and key != "replicas":
                status.pop(key)
        set_status(self.api, DEPLOYMENTS, meta["namespace"], meta["name"], status)
