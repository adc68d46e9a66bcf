"""The simulated DaemonSet controller (one node, so one pod per DaemonSet)."""

from __future__ import annotations

from sandbox.kube.api import random_suffix
from sandbox.kube.objects import pod_ready, set_status, template_hash
from sandbox.kube.resources import by_plural
from sandbox.kube.workload import WorkloadController

DAEMONSETS = by_plural("apps", "daemonsets")


class DaemonSetController(WorkloadController):
    """One pod on the sandbox node, replaced on update as the updateStrategy says."""

    def daemonset(self, ds: dict, pods: list[dict]) -> None:
        """One pod on the single sandbox node. An update replaces it as the
        ``updateStrategy`` says: with ``maxSurge`` the new pod starts before the old one
        goes; with the default (``maxSurge: 0``, ``maxUnavailable: 1``) the old pod goes
        first; ``OnDelete`` waits for someone to delete it."""
        meta, spec = ds["metadata"], ds["spec"]
        template = spec.get("template") or {}
        revision = template_hash(template)
        self.sync_revision(DAEMONSETS, ds, template, revision)
        new = [
            p
            for p in pods
            if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision
        ]
        old = [p for p in pods if p not in new]
        strategy = spec.get("updateStrategy") or {}
        surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", 0)
        if not new and old and strategy.get("type") == "OnDelete":
            pass  # OnDelete: a new pod only once someone deletes the old one
        elif not new:
            if old and surge in (0, "0", "0%", None):
                # maxSurge 0 (the default): the old pod goes before the new one starts.
                self.delete_pods(old)
                old = []
            labels = {
                **((template.get("metadata") or {}).get("labels") or {}),
                "controller-revision-hash": revision,
            }
            self.create_pods(
                DAEMONSETS, ds, template, [f"{meta['name']}-{random_suffix()}"], labels
            )
        elif old and all(pod_ready(p) for p in new):
            self.delete_pods(old)
            old = []
        ready = sum(1 for p in new + old if pod_ready(p))
        new_ready = sum(1 for p in new if pod_ready(p))
        status = {
            "observedGeneration": meta.get("generation", 1),
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "updatedNumberScheduled": len(new),
            "numberAvailable": new_ready,
            "numberUnavailable": 1 - min(1, new_ready),
        }
        set_status(self.api, DAEMONSETS, meta["namespace"], meta["name"], status)
