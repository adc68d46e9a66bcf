"""The simulated StatefulSet controller."""

from __future__ import annotations

from sandbox.kube.objects import PODS, pod_from_template, pod_ready, set_status, template_hash
from sandbox.kube.resources import by_plural
from sandbox.kube.workload import WorkloadController

STATEFULSETS = by_plural("apps", "statefulsets")


class StatefulSetController(WorkloadController):
    """Ordered pods ``<name>-<i>``, updated highest ordinal first."""

    def statefulset(self, sts: dict, pods: list[dict]) -> None:
        """Ordered pods ``<name>-<i>``; updates replace the highest ordinal first."""
        meta, spec = sts["metadata"], sts["spec"]
        desired = int(spec.get("replicas", 1))
        revision_hash = template_hash(spec.get("template") or {})
        revision = f"{meta['name']}-{revision_hash}"
        self.sync_revision(STATEFULSETS, sts, spec.get("template") or {}, revision_hash)
        by_ordinal = {}
        for pod in pods:
            ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if ordinal.isdigit():
                by_ordinal[int(ordinal)] = pod
        surplus = [p for i, p in by_ordinal.items() if i >= desired]
        self.delete_pods(surplus)
        present = {i: p for i, p in by_ordinal.items() if i < desired}
        all_ready = all(pod_ready(p) for p in present.values())
        missing = [i for i in range(desired) if i not in present]
        template = spec.get("template") or {}
        strategy = spec.get("updateStrategy") or {}
        if missing and all_ready:
            ordinal = missing[0]
            name = f"{meta['name']}-{ordinal}"
            labels = {
                **((template.get("metadata") or {}).get("labels") or {}),
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": name,
                "apps.kubernetes.io/pod-index": str(ordinal),
            }
            body = pod_from_template(STATEFULSETS, sts, template, name, labels)
            body["spec"].update(hostname=name, subdomain=spec.get("serviceName", ""))
            pod = self.api.create(PODS, meta["namespace"], body)
            self.kubelet.schedule(
                pod["metadata"]["uid"], self.config.rollout_seconds / max(desired, 1)
            )
        elif not missing and all_ready and strategy.get("type", "RollingUpdate") != "OnDelete":
            # RollingUpdate replaces ordinals >= partition only; OnDelete replaces none.
            partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
            stale = [
                i
                for i, p in present.items()
                if i >= partition
                and p["metadata"].get("labels", {}).get("controller-revision-hash") != revision
            ]
            if stale:
                self.delete_pods([present[max(stale)]])
        updated = sum(
            1
            for p in present.values()
            if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision
        )
        ready = sum(1 for p in present.values() if pod_ready(p))
        current_revision = sts.get("status", {}).get("currentRevision") or revision
        if updated == desired and ready == desired:
            current_revision = revision
        current = sum(
            1
            for p in present.values()
            if p["metadata"].get("labels", {}).get("controller-revision-hash") == current_revision
        )
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(present),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        set_status(self.api, STATEFULSETS, meta["namespace"], meta["name"], status)
