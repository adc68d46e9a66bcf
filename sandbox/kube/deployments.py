"""The simulated Deployment and ReplicaSet controllers."""

from __future__ import annotations

import copy

from sandbox.kube.api import random_suffix
from sandbox.kube.events import record_event
from sandbox.kube.objects import (
    owner_reference,
    pod_ready,
    set_annotations,
    set_status,
    template_hash,
)
from sandbox.kube.resources import Resource, by_plural
from sandbox.kube.workload import WorkloadController

DEPLOYMENTS = by_plural("apps", "deployments")
REPLICASETS = by_plural("apps", "replicasets")
REVISION = "deployment.kubernetes.io/revision"


PROGRESSING, AVAILABLE = "Progressing", "Available"
# Reasons of the Progressing condition (k8s.io/kubernetes pkg/controller/deployment/util).
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"


def _set_condition(
    conditions: list[dict], ctype: str, status: str, reason: str, message: str, stamp: str
) -> None:
    """``SetDeploymentCondition``: nothing changes when status and reason are the same;
    otherwise the condition is replaced, keeping lastTransitionTime if the status is."""
    current = next((c for c in conditions if c.get("type") == ctype), None)
    if current and current.get("status") == status and current.get("reason") == reason:
        return
    cond = {
        "type": ctype,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }
    if current and current.get("status") == status:
        cond["lastTransitionTime"] = current.get("lastTransitionTime", stamp)
    if current:
        conditions.remove(current)
    conditions.append(cond)


def _get_condition(conditions: list[dict], ctype: str) -> dict | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def scaled_value(value: object, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or a percentage of ``total``."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return int(-(-exact // 1)) if round_up else int(exact)
    return int(value or 0)


def surge_and_unavailable(spec: dict) -> tuple[int, int]:
    """``MaxSurge`` and ``MaxUnavailable`` of a Deployment (``ResolveFenceposts``):
    surge rounds up, unavailable rounds down, both zero means one unavailable;
    0/0 for Recreate."""
    strategy = spec.get("strategy") or {}
    desired = int(spec.get("replicas", 1))
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, desired)


def _spec_replicas(rs: dict) -> int:
    return int(rs["spec"].get("replicas", 0))


def _status_of(rs: dict, key: str) -> int:
    return int((rs.get("status") or {}).get(key, 0) or 0)


def _ready_since(pod: dict) -> str | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("lastTransitionTime")
    return None


class DeploymentController(WorkloadController):
    """Deployments roll out through ReplicaSets; ReplicaSets keep their pod count."""

    def replicaset(self, rs: dict, pods: list[dict], res: Resource = REPLICASETS) -> None:
        """Keep ``spec.replicas`` pods; surplus goes not-ready first, newest first
        (ReplicaSets, and ReplicationControllers with ``res``)."""
        meta = rs["metadata"]
        want = int(rs["spec"].get("replicas", 1))
        live = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")]
        if len(live) < want:
            names = [f"{meta['name']}-{random_suffix()}" for _ in range(want - len(live))]
            template = rs["spec"].get("template") or {}
            self.create_pods(
                res,
                rs,
                template,
                names,
                (template.get("metadata") or {}).get("labels") or {},
            )
        elif len(live) > want:
            # controller.ActivePods ranking: not ready before ready, newer before older.
            live.sort(key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)
            live.sort(key=pod_ready)
            surplus = live[: len(live) - want]
            self.delete_pods(surplus)
            live = live[len(surplus) :]
        ready = sum(1 for p in live if pod_ready(p))
        # Available: ready for at least minReadySeconds (by the Ready condition's stamp).
        min_ready = int(rs["spec"].get("minReadySeconds", 0) or 0)
        available = sum(
            1
            for p in live
            if pod_ready(p)
            and (min_ready == 0 or self.api.clock.seconds_since(_ready_since(p)) >= min_ready)
        )
        status = {
            "replicas": len(live),
            "fullyLabeledReplicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": meta.get("generation", 1),
        }
        set_status(self.api, res, meta["namespace"], meta["name"], status)

    # --- deployments -----------------------------------------------------------------
    # The shape follows k8s.io/kubernetes pkg/controller/deployment: sync.go
    # (getNewReplicaSet, calculateStatus), rolling.go (reconcileNewReplicaSet,
    # reconcileOldReplicaSets, cleanupUnhealthyReplicas), recreate.go and progress.go
    # (syncRolloutStatus). One tick does what one sync of the real controller does.

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
        conditions = copy.deepcopy((deploy.get("status") or {}).get("conditions") or [])
        has_deadline = spec.get("progressDeadlineSeconds", 600) is not None
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        revisions = [
            int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in replicasets
        ]
        top = max(revisions, default=0)
        if spec.get("paused"):
            self._paused(deploy, new_rs, old, conditions)
            return
        current = _get_condition(conditions, PROGRESSING)
        if current is not None and current.get("reason") == PAUSED:
            _set_condition(
                conditions, PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", self.api.now()
            )
        if new_rs is None and recreate and self._old_pods_running(old, pods_by_rs):
            # Recreate: the new ReplicaSet only appears once every old pod is gone.
            self._scale_old_to_zero(deploy, old)
            self._sync_status(deploy, None, old, conditions)
            return
        if new_rs is None:
            replicas = desired if recreate else self._new_rs_replicas(spec, old, 0)
            new_rs = self._new_replicaset(deploy, template, pod_hash, replicas, top + 1)
            if replicas:
                self._event(
                    deploy,
                    f"Scaled up replica set {new_rs['metadata']['name']} from 0 to {replicas}",
                )
            if has_deadline:
                _set_condition(
                    conditions,
                    PROGRESSING,
                    "True",
                    NEW_RS_CREATED,
                    f'Created new replica set "{new_rs["metadata"]["name"]}"',
                    self.api.now(),
                )
            revision = top + 1
        else:
            revision = int(new_rs["metadata"].get("annotations", {}).get(REVISION, "0"))
            if revision < top:
                revision = top + 1
                set_annotations(
                    self.api, REPLICASETS, ns, new_rs["metadata"]["name"], {REVISION: str(revision)}
                )
            if has_deadline and _get_condition(conditions, PROGRESSING) is None:
                _set_condition(
                    conditions,
                    PROGRESSING,
                    "True",
                    FOUND_NEW_RS,
                    f'Found new replica set "{new_rs["metadata"]["name"]}"',
                    self.api.now(),
                )
        set_annotations(self.api, DEPLOYMENTS, ns, meta["name"], {REVISION: str(revision)})
        if recreate:
            if not self._scale_old_to_zero(deploy, old) and not self._old_pods_running(
                old, pods_by_rs
            ):
                self._scale_and_record(deploy, new_rs, desired)
        else:
            self._rolling(deploy, new_rs, old)
        self._sync_status(deploy, new_rs, old, conditions)
        status = deploy.get("status") or {}
        if status.get("updatedReplicas", 0) == desired and status.get("replicas", 0) == desired:
            self._cleanup(deploy, old)

    def _paused(
        self, deploy: dict, new_rs: dict | None, old: list[dict], conditions: list[dict]
    ) -> None:
        """``sync`` of a paused Deployment: no new ReplicaSet for a changed template, only
        scaling of the current one, and progress is not estimated."""
        desired = int(deploy["spec"].get("replicas", 1))
        active = [rs for rs in [*old, new_rs] if rs is not None and _spec_replicas(rs)]
        if new_rs is not None and (not active or active == [new_rs]):
            self._scale_and_record(deploy, new_rs, desired)
        elif new_rs is None and len(active) == 1:
            self._scale_and_record(deploy, active[0], desired)
        current = _get_condition(conditions, PROGRESSING)
        if current is None or current.get("reason") != PAUSED:
            _set_condition(
                conditions, PROGRESSING, "Unknown", PAUSED, "Deployment is paused", self.api.now()
            )
        self._sync_status(deploy, new_rs, [rs for rs in old if rs is not new_rs], conditions)

    def _cleanup(self, deploy: dict, old: list[dict]) -> None:
        """``cleanupDeployment``: old ReplicaSets with no pods beyond
        ``revisionHistoryLimit`` go, oldest revision first."""
        limit = deploy["spec"].get("revisionHistoryLimit", 10)
        if limit is None:
            return
        idle = [rs for rs in old if not _spec_replicas(rs) and not _status_of(rs, "replicas")]
        idle.sort(key=lambda r: int(r["metadata"].get("annotations", {}).get(REVISION, "0")))
        for rs in idle[: max(0, len(idle) - int(limit))]:
            self.api.store.remove(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    @staticmethod
    def _new_rs_replicas(spec: dict, old: list[dict], new_replicas: int) -> int:
        """``NewRSNewReplicas`` for RollingUpdate: grow the new ReplicaSet only as far as
        ``replicas + maxSurge`` pods in all ReplicaSets allow."""
        desired = int(spec.get("replicas", 1))
        surge, _ = surge_and_unavailable(spec)
        current = new_replicas + sum(_spec_replicas(rs) for rs in old)
        max_total = desired + surge
        if current >= max_total:
            return new_replicas
        return new_replicas + min(max_total - current, desired - new_replicas)

    def _rolling(self, deploy: dict, new_rs: dict, old: list[dict]) -> None:
        """``rolloutRolling``: scale the new ReplicaSet up if we can, else old ones down."""
        spec = deploy["spec"]
        desired = int(spec.get("replicas", 1))
        new_replicas = _spec_replicas(new_rs)
        if new_replicas > desired:
            self._scale_and_record(deploy, new_rs, desired)
            return
        if new_replicas < desired:
            target = self._new_rs_replicas(spec, old, new_replicas)
            if target != new_replicas:
                self._scale_and_record(deploy, new_rs, target)
                return
        old_count = sum(_spec_replicas(rs) for rs in old)
        if old_count == 0:
            return
        _, max_unavailable = surge_and_unavailable(spec)
        min_available = desired - max_unavailable
        all_count = old_count + _spec_replicas(new_rs)
        new_unavailable = _spec_replicas(new_rs) - _status_of(new_rs, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        oldest_first = sorted(old, key=lambda r: r["metadata"].get("creationTimestamp", ""))
        # Unhealthy replicas go first, or they would block the rollout (kubernetes#16737).
        cleaned = 0
        for rs in oldest_first:
            if cleaned >= max_scaled_down:
                break
            replicas, available = _spec_replicas(rs), _status_of(rs, "availableReplicas")
            if replicas == 0 or replicas == available:
                continue
            count = min(max_scaled_down - cleaned, replicas - available)
            self._scale_and_record(deploy, rs, replicas - count)
            cleaned += count
        # Then healthy ones, as far as minAvailable allows.
        available = sum(_status_of(rs, "availableReplicas") for rs in [*old, new_rs])
        if available <= min_available:
            return
        allowed, scaled = available - min_available, 0
        for rs in oldest_first:
            if scaled >= allowed:
                break
            replicas = _spec_replicas(rs)
            if replicas == 0:
                continue
            count = min(replicas, allowed - scaled)
            self._scale_and_record(deploy, rs, replicas - count)
            scaled += count

    def _scale_old_to_zero(self, deploy: dict, old: list[dict]) -> bool:
        scaled = False
        for rs in old:
            if _spec_replicas(rs):
                self._scale_and_record(deploy, rs, 0)
                scaled = True
        return scaled

    @staticmethod
    def _old_pods_running(old: list[dict], pods_by_rs: dict) -> bool:
        return any(
            p["status"].get("phase") not in ("Succeeded", "Failed")
            for rs in old
            for p in pods_by_rs.get(rs["metadata"]["uid"], [])
        )

    def _event(self, deploy: dict, message: str) -> None:
        record_event(
            self.api,
            DEPLOYMENTS,
            deploy,
            "Normal",
            "ScalingReplicaSet",
            message,
            "deployment-controller",
        )

    def _scale_and_record(self, deploy: dict, rs: dict, replicas: int) -> None:
        current = _spec_replicas(rs)
        if current == replicas:
            return
        self._scale(rs, replicas)
        rs["spec"]["replicas"] = replicas
        direction = "up" if replicas > current else "down"
        self._event(
            deploy,
            f"Scaled {direction} replica set {rs['metadata']['name']} from {current} to {replicas}",
        )

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

    def _sync_status(
        self, deploy: dict, new_rs: dict | None, old: list[dict], conditions: list[dict]
    ) -> None:
        """``calculateStatus`` + ``syncRolloutStatus``: counts from the ReplicaSets, the
        Available condition, and Progressing measured from the new ReplicaSet's progress."""
        meta, spec = deploy["metadata"], deploy["spec"]
        desired = int(spec.get("replicas", 1))
        all_rs = [*old, new_rs] if new_rs is not None else old
        available = sum(_status_of(rs, "availableReplicas") for rs in all_rs)
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": sum(_status_of(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status_of(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_status_of(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(0, sum(_spec_replicas(rs) for rs in all_rs) - available),
        }
        stamp = self.api.now()
        _, max_unavailable = surge_and_unavailable(spec)
        if available >= desired - max_unavailable:
            _set_condition(
                conditions,
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                stamp,
            )
        else:
            _set_condition(
                conditions,
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                stamp,
            )
        deadline = spec.get("progressDeadlineSeconds", 600)
        current = _get_condition(conditions, PROGRESSING)
        # A finished rollout that is only being scaled or resynced estimates no progress.
        finished = (
            status["replicas"] == status["updatedReplicas"]
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE
        )
        if new_rs is not None and deadline is not None and not spec.get("paused") and not finished:
            name = new_rs["metadata"]["name"]
            complete = (
                status["updatedReplicas"] == desired
                and status["replicas"] == desired
                and available == desired
            )
            current = _get_condition(conditions, PROGRESSING)
            if complete:
                _set_condition(
                    conditions,
                    PROGRESSING,
                    "True",
                    NEW_RS_AVAILABLE,
                    f'ReplicaSet "{name}" has successfully progressed.',
                    stamp,
                )
            elif self._progressed(deploy.get("status") or {}, status):
                cond = {
                    "type": PROGRESSING,
                    "status": "True",
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp,
                    "reason": RS_UPDATED,
                    "message": f'ReplicaSet "{name}" is progressing.',
                }
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime", stamp)
                    conditions.remove(current)
                conditions.append(cond)
            elif self._timed_out(current, int(deadline)):
                _set_condition(
                    conditions,
                    PROGRESSING,
                    "False",
                    TIMED_OUT,
                    f'ReplicaSet "{name}" has timed out progressing.',
                    stamp,
                )
        status["conditions"] = conditions
        for key in ("updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if not status[key]:
                status.pop(key)
        set_status(self.api, DEPLOYMENTS, meta["namespace"], meta["name"], status)

    @staticmethod
    def _progressed(old: dict, new: dict) -> bool:
        """``DeploymentProgressing``: more updated, ready or available pods, or fewer old."""

        def get(status: dict, key: str) -> int:
            return int(status.get(key, 0) or 0)

        old_old = get(old, "replicas") - get(old, "updatedReplicas")
        new_old = get(new, "replicas") - get(new, "updatedReplicas")
        return (
            get(new, "updatedReplicas") > get(old, "updatedReplicas")
            or new_old < old_old
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas")
        )

    def _timed_out(self, condition: dict | None, deadline: int) -> bool:
        """``DeploymentTimedOut``: measured from the Progressing condition's
        lastUpdateTime; a NewReplicaSetAvailable condition never times out."""
        if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
            return False
        if condition.get("reason") == TIMED_OUT:
            return True
        return self.api.clock.seconds_since(condition.get("lastUpdateTime")) > deadline
